import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { SESSION_IDLE_MS, SESSION_LIFETIME_MS } from '../../src/api/admin/admin-sessions.js';
import { revokeAdminToken } from '../../src/api/admin/admin-tokens.js';
import { listAudit } from '../../src/api/audit/audit-log.js';
import { listEnrollments } from '../../src/api/enrollment/enroll.js';
import { listEnrollmentTokens } from '../../src/api/enrollment/tokens.js';
import { createRateLimiter } from '../../src/api/middleware/rate-limit.js';
import { createWebhook } from '../../src/api/notify/webhooks.js';
import { MAX_HOSTS_PER_CHANGE } from '../../src/channel/maintainer-change.js';
import { webhookDeliveries } from '../../src/db/schema.js';
import { SHOWN_RESTORE_POINTS } from '../../src/domain/borg-transactions.js';
import { readMaintainer } from '../../src/root/requests/maintainer-requests.js';
import { enrollPending } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { addHostRow, addManyHostRows, addServedHostRow } from '../support/host-rows.js';
import { callApi, createTestAdminToken, makeTestApp } from '../support/test-context.js';
import { createWebClient, PAGE_ORIGIN } from '../support/web-client.js';

const keys = useSshKeys({ vm: 'ed25519', trusted: 'ed25519' });
const api = useTestApi();

const PAGES = ['/ui', '/ui/enrollments', '/ui/hosts', '/ui/maintainers', '/ui/tokens', '/ui/webhooks', '/ui/audit'];

async function loggedIn() {
  const web = createWebClient(api.app);
  expect((await web.logIn(api.adminToken)).status).toBe(303);
  return web;
}

describe('logging in to /ui', () => {
  it.each(PAGES)('sends a browser without a session from %s to the login page', async (path) => {
    const page = await createWebClient(api.app).get(path);
    expect(page.status).toBe(303);
    expect(page.location).toMatch(/^\/ui\/login/);
  });

  it('gives a session cookie that scripts, other sites and plain HTTP cannot use', async () => {
    const response = await createWebClient(api.app).post('/ui/login', { token: api.adminToken }, { csrf: null });
    expect(response.status).toBe(303);
    expect(response.location).toBe('/ui');
    const [cookie] = response.headers.getSetCookie();
    expect(cookie).toMatch(/^__Host-sbs_session=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    expect(listAudit(api.context.db, { limit: 1 })[0]).toMatchObject({ action: 'admin.login' });
  });

  it('refuses a wrong token with 401 and no cookie, and counts it against the address', async () => {
    const app = makeTestApp(api.context, { limits: { adminFailures: createRateLimiter({ limit: 2, windowMs: 60_000 }) } });
    const web = createWebClient(app);
    const wrong = `${api.adminToken.slice(0, -1)}${api.adminToken.endsWith('A') ? 'B' : 'A'}`;
    for (const attempt of [1, 2]) {
      const response = await web.post('/ui/login', { token: wrong }, { csrf: null });
      expect(response.status, `attempt ${attempt}`).toBe(401);
      expect(response.text).toContain('That admin token is not valid');
      expect(response.headers.getSetCookie()).toEqual([]);
    }
    const limited = await web.post('/ui/login', { token: api.adminToken }, { csrf: null });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(limited.headers.getSetCookie()).toEqual([]);
  });

  it('goes back to the page that asked for the login, and never to another site', async () => {
    const web = createWebClient(api.app);
    expect((await web.get('/ui/hosts')).location).toBe('/ui/login?next=%2Fui%2Fhosts');
    expect((await web.post('/ui/login', { token: api.adminToken, next: '/ui/hosts' }, { csrf: null })).location).toBe('/ui/hosts');
    for (const next of ['https://evil.example/ui', '//evil.example/ui', '/ui//evil.example', '/elsewhere']) {
      const other = createWebClient(api.app);
      expect((await other.post('/ui/login', { token: api.adminToken, next }, { csrf: null })).location).toBe('/ui');
    }
  });

  it('refuses a login form posted from another site', async () => {
    const web = createWebClient(api.app);
    const response = await web.post('/ui/login', { token: api.adminToken }, { csrf: null, origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie()).toEqual([]);
  });
});

describe('a session', () => {
  it('ends after 30 minutes without a request', async () => {
    const web = await loggedIn();
    api.clock.advance(SESSION_IDLE_MS - 60_000);
    expect((await web.get('/ui/hosts')).status).toBe(200);
    api.clock.advance(SESSION_IDLE_MS - 60_000);
    expect((await web.get('/ui/hosts')).status).toBe(200);
    api.clock.advance(SESSION_IDLE_MS);
    const expired = await web.get('/ui/hosts');
    expect(expired.status).toBe(303);
    expect(expired.location).toMatch(/^\/ui\/login/);
  });

  it('ends 12 hours after the login, however busy', async () => {
    const web = await loggedIn();
    for (let elapsed = 0; elapsed < SESSION_LIFETIME_MS - 20 * 60_000; elapsed += 20 * 60_000) {
      api.clock.advance(20 * 60_000);
      expect((await web.get('/ui')).status).toBe(200);
    }
    api.clock.advance(20 * 60_000);
    expect((await web.get('/ui')).status).toBe(303);
  });

  it('ends at logout: the old cookie opens nothing', async () => {
    const web = await loggedIn();
    const cookie = web.cookie;
    const logout = await web.post('/ui/logout');
    expect(logout.status).toBe(303);
    expect(logout.location).toBe('/ui/login?notice=logged-out');
    expect(logout.headers.getSetCookie()[0]).toMatch(/^__Host-sbs_session=; Max-Age=0/);
    web.cookie = cookie;
    expect((await web.get('/ui')).status).toBe(303);
    expect((await web.post('/ui/tokens', { ttl: '1h' })).status).toBe(401);
    expect(listEnrollmentTokens(api.context)).toEqual([]);
  });

  it('ends when its admin token is revoked', async () => {
    const web = await loggedIn();
    const [tokenId] = /^bsa_([A-Za-z0-9]{12})_/.exec(api.adminToken)?.slice(1) ?? [];
    revokeAdminToken(api.context.db, tokenId ?? '', api.clock.now(), 'test');
    expect((await web.get('/ui')).status).toBe(303);
  });
});

describe('forms of the page', () => {
  it('refuses a post from another site, or with no origin at all, and changes nothing', async () => {
    const web = await loggedIn();
    for (const origin of ['https://evil.example', 'null', null]) {
      const response = await web.post('/ui/tokens', { ttl: '1h' }, { origin });
      expect(response.status, `origin ${origin}`).toBe(403);
      expect(response.text).toContain('not sent from this page');
    }
    const crossSite = await web.post('/ui/tokens', { ttl: '1h' }, { origin: null, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(listEnrollmentTokens(api.context)).toEqual([]);
  });

  it('refuses a post without the session form token, or with another session`s', async () => {
    const web = await loggedIn();
    const other = await loggedIn();
    expect((await web.post('/ui/tokens', { ttl: '1h' }, { csrf: null })).status).toBe(403);
    expect((await web.post('/ui/tokens', { ttl: '1h' }, { csrf: other.csrfToken ?? '' })).status).toBe(403);
    expect(listEnrollmentTokens(api.context)).toEqual([]);
    expect((await web.post('/ui/tokens', { ttl: '1h' })).status).toBe(200);
    expect(listEnrollmentTokens(api.context)).toHaveLength(1);
  });

  it('shows a minted token`s command once, in the page and never in a URL', async () => {
    const web = await loggedIn();
    const minted = await web.post('/ui/tokens', { ttl: '15m', host: 'web1', quota: '20G', appendOnly: 'yes' });
    expect(minted.status).toBe(200);
    expect(minted.location).toBeNull();
    const command = /<code id="enroll-command">([^<]+)<\/code>/.exec(minted.text)?.[1] ?? '';
    expect(command).toContain('BORG_ENROLL_TOKEN=&#39;ey');
    const token = /BORG_ENROLL_TOKEN=&#39;([^&]+)&#39;/.exec(command)?.[1] ?? '';
    expect(listEnrollmentTokens(api.context)).toMatchObject([{ host: 'web1', appendOnly: true, quotaBytes: 20e9 }]);
    const list = await web.get('/ui/tokens');
    expect(list.text).not.toContain(token);
    expect(list.text).toContain('quota 20.0 GB');
  });

  it('answers a bad value with a 4xx page that names the problem, and keeps nothing', async () => {
    const web = await loggedIn();
    const response = await web.post('/ui/tokens', { ttl: '9d' });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(response.text).toContain('role="alert"');
    expect(response.text).toContain('href="/ui/tokens"');
    expect(listEnrollmentTokens(api.context)).toEqual([]);
  });

  it('refuses a body larger than the limit with 413', async () => {
    const web = await loggedIn();
    const response = await web.post('/ui/tokens', { host: 'x'.repeat(40_000) });
    expect(response.status).toBe(413);
  });
});

describe('approving an enrollment on the page', () => {
  it('approves only when the typed fingerprint is the key`s exact fingerprint', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const web = await loggedIn();
    const page = await web.get('/ui/enrollments');
    expect(page.text).toContain(`data-enrollment-id="${id}"`);
    expect(page.text).toContain(`<code class="fingerprint">${keys.vm.fingerprint}</code>`);
    const shortened = keys.vm.fingerprint.slice(0, -1);
    const wrong = await web.post(`/ui/enrollments/${id}/approve`, { fingerprint: shortened });
    expect(wrong.status).toBe(409);
    expect(listEnrollments(api.context, 'pending')).toHaveLength(1);
    const right = await web.post(`/ui/enrollments/${id}/approve`, { fingerprint: ` ${keys.vm.fingerprint} ` });
    expect(right.status).toBe(303);
    expect(right.location).toBe('/ui/hosts/web1?notice=approved');
    expect((await web.get(right.location ?? '')).text).toContain('Approved: the host can back up now.');
  });

  it('opens the enrollment where its enrollment.pending approvalUrl leads, after the login it asks for, and approves there', async () => {
    createWebhook(api.context, { url: 'https://hooks.example.test/borg' }, { actor: 'test' });
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const event = api.context.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventType, 'enrollment.pending')).get();
    const approvalUrl = new URL((JSON.parse(event?.payload ?? '{}') as { data: { approvalUrl: string } }).data.approvalUrl);
    expect(approvalUrl.origin).toBe(PAGE_ORIGIN);
    expect(approvalUrl.pathname).toBe(`/ui/enrollments/${id}`);

    const web = createWebClient(api.app);
    const asked = await web.get(approvalUrl.pathname);
    expect(asked.status).toBe(303);
    expect(asked.location).toBe(`/ui/login?next=${encodeURIComponent(approvalUrl.pathname)}`);
    const login = await web.post('/ui/login', { token: api.adminToken, next: approvalUrl.pathname }, { csrf: null });
    expect(login.location).toBe(approvalUrl.pathname);
    const page = await web.get(approvalUrl.pathname);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`data-enrollment-id="${id}"`);
    expect(page.text).toContain(`<code class="fingerprint">${keys.vm.fingerprint}</code>`);
    expect(page.text).toContain(`action="/ui/enrollments/${id}/approve"`);
    expect(page.text).toContain(`action="/ui/enrollments/${id}/deny"`);

    const approved = await web.post(`/ui/enrollments/${id}/approve`, { fingerprint: keys.vm.fingerprint });
    expect(approved.location).toBe('/ui/hosts/web1?notice=approved');
    // Followed again later, the link says what became of the enrollment, with no form left.
    const after = await web.get(approvalUrl.pathname);
    expect(after.status).toBe(200);
    expect(after.text).toMatch(/data-field="status"><span class="badge [a-z]+">approved<\/span>/);
    expect(after.text).not.toContain('/approve"');
  });

  it('says "not found" as a page for an enrollment that does not exist', async () => {
    const page = await (await loggedIn()).get('/ui/enrollments/enr_nope');
    expect(page.status).toBe(404);
    expect(page.text).toContain('Not found');
  });

  it('denies with a reason, shown as text and never as markup', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const web = await loggedIn();
    expect((await web.post(`/ui/enrollments/${id}/deny`, { reason: '<script>alert(1)</script> unknown VM' })).status).toBe(303);
    const page = await web.get('/ui/enrollments');
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; unknown VM');
    expect(page.text).not.toContain('<script>alert');
  });
});

describe('the hosts on the page', () => {
  it('pages through 10,000 hosts and finds one by name', async () => {
    api.context.db.transaction((tx) => {
      addManyHostRows(tx, 10_000, (index) => `vm${String(index).padStart(5, '0')}`, api.clock.now(), 20_000);
    });
    const web = await loggedIn();
    const first = await web.get('/ui/hosts');
    expect(first.text).toContain('10000 hosts, page 1 of 200');
    expect(first.text.match(/<tr data-host=/g)).toHaveLength(50);
    const last = await web.get('/ui/hosts?page=200');
    expect(last.text).toContain('data-host="vm09999"');
    const found = await web.get('/ui/hosts?q=vm0424');
    expect(found.text).toContain('10 hosts');
    expect(found.text).toContain('data-host="vm04242"');
    expect((await web.get('/ui')).text).toMatch(/<strong>10000<\/strong>Hosts/);
    // About 1 s here: the 30 s bound (not vitest's default 5 s) leaves a slow or busy CI machine room.
  }, 30_000);

  it('changes a host`s settings, each form one field', async () => {
    addServedHostRow({ db: api.context.db, rootDb: api.rootDb }, 'web1', api.clock.now());
    const web = await loggedIn();
    await web.get('/ui/hosts/web1');
    expect((await web.post('/ui/hosts/web1/settings', { setting: 'quota', value: '50G' })).status).toBe(303);
    expect((await web.post('/ui/hosts/web1/settings', { setting: 'allowFrom', value: '192.0.2.0/24' })).status).toBe(303);
    expect((await web.post('/ui/hosts/web1/full-access', { for: '2h' })).status).toBe(303);
    const page = await web.get('/ui/hosts/web1');
    expect(page.text).toContain('value="50G"');
    expect(page.text).toContain('192.0.2.0/24');
    expect(page.text).toContain('full access until');
    expect((await web.post('/ui/hosts/web1/settings', { setting: 'uid', value: '0' })).status).toBe(400);
    expect((await web.post('/ui/hosts/web1/settings', { setting: 'allowFrom', value: 'not-a-network' })).status).toBe(400);
  });

  it('lists the newest restore points the server read, and says how many more there are', async () => {
    addHostRow(api.context.db, 'web1', api.clock.now());
    const commits = Array.from({ length: 100 }, (_, index) => ({ id: index + 1, committedAt: new Date(Date.UTC(2026, 10, 27, 0, index)) }));
    const restorePoints = { newest: commits.slice(-SHOWN_RESTORE_POINTS), total: commits.length };
    api.context.readRestorePoints = async (name) => (name === 'web1' ? restorePoints : { newest: [], total: 0 });
    const page = (await (await loggedIn()).get('/ui/hosts/web1')).text;
    expect(page.match(/<td data-label="Commit">\d+<\/td>/g)).toEqual(
      Array.from({ length: SHOWN_RESTORE_POINTS }, (_, index) => `<td data-label="Commit">${100 - index}</td>`),
    );
    expect(page).toContain(`The newest ${SHOWN_RESTORE_POINTS} of 100 commits`);
  });

  it('deletes a host only when its name is typed', async () => {
    addServedHostRow({ db: api.context.db, rootDb: api.rootDb }, 'web1', api.clock.now());
    const web = await loggedIn();
    await web.get('/ui/hosts/web1');
    expect((await web.post('/ui/hosts/web1/delete', { confirm: 'web2' })).status).toBe(400);
    expect((await web.get('/ui/hosts/web1')).status).toBe(200);
    expect((await web.post('/ui/hosts/web1/delete', { confirm: 'web1' })).location).toBe('/ui/hosts?notice=deleted');
    expect((await web.get('/ui/hosts/web1')).status).toBe(404);
  });
});

describe('every page', () => {
  it.each(PAGES)('%s has a strict Content-Security-Policy and no inline script or style', async (path) => {
    addHostRow(api.context.db, 'web1', api.clock.now());
    const web = await loggedIn();
    const page = await web.get(path);
    expect(page.status).toBe(200);
    expect(page.text.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).not.toMatch(/<script(?![^>]*\ssrc=)/);
    expect(page.text).not.toMatch(/\sstyle=|<style|\son[a-z]+=/);
    // The login form's admin token field is never filled in, and no page shows the token.
    expect(page.text).not.toContain(api.adminToken);
  });

  it('says "not found" as a page for a host that does not exist, however it is written', async () => {
    const web = await loggedIn();
    for (const path of ['/ui/hosts/nope', '/ui/hosts/..%2F..%2Fetc', '/ui/webhooks/wh_x', '/ui/nothing-here']) {
      const page = await web.get(path);
      expect(page.status, path).toBe(404);
      expect(page.headers.get('content-type')).toContain('text/html');
    }
  });

  it('serves its stylesheet and script from its own origin', async () => {
    const web = createWebClient(api.app);
    expect((await web.get('/ui/assets/app.css')).headers.get('content-type')).toContain('text/css');
    expect((await web.get('/ui/assets/app.js')).headers.get('content-type')).toContain('text/javascript');
    expect(PAGE_ORIGIN).toBe('https://backup.example.test:8443');
  });
});

describe('webhooks on the page', () => {
  it('adds one with chosen events, shows its secret once, sends a test event and lists the delivery', async () => {
    const web = await loggedIn();
    await web.get('/ui/webhooks');
    const added = await web.post('/ui/webhooks', { url: 'https://hooks.example.test/borg', events: ['host.stale', 'backup.completed'] });
    expect(added.status).toBe(200);
    const secret = /<code id="webhook-secret">(whsec_[^<]+)<\/code>/.exec(added.text)?.[1] ?? '';
    expect(secret).toMatch(/^whsec_/);
    const list = await web.get('/ui/webhooks');
    expect(list.text).not.toContain(secret);
    expect(list.text).toContain('host.stale, backup.completed');
    const id = /data-webhook="(wh_[^"]+)"/.exec(list.text)?.[1] ?? '';
    const sent = await web.post(`/ui/webhooks/${id}/test`);
    expect(sent.location).toBe(`/ui/webhooks/${id}?notice=test-sent`);
    const deliveries = await web.get(sent.location ?? '');
    expect(deliveries.text).toContain('webhook.test');
    expect(deliveries.text).toMatch(/<tr data-delivery="msg_/);
    expect((await web.post(`/ui/webhooks/${id}/remove`)).location).toBe('/ui/webhooks?notice=webhook-removed');
    expect((await web.get('/ui/webhooks')).text).not.toContain(id);
  });

  it('offers the formats, and adds an ntfy webhook with no secret to show, its format in the list', async () => {
    const web = await loggedIn();
    const page = await web.get('/ui/webhooks');
    for (const format of ['standard', 'slack', 'discord', 'ntfy']) expect(page.text).toContain(`<option value="${format}">`);
    const added = await web.post('/ui/webhooks', { url: 'https://ntfy.example.test/borg-alerts', events: ['host.stale'], format: 'ntfy' });
    expect(added.status).toBe(200);
    expect(added.text).not.toContain('webhook-secret');
    expect(added.text).toMatch(/<tr data-webhook="wh_[^"]+">[\s\S]*?<td[^>]*>ntfy<\/td>/);
  });

  it('refuses an unknown event type, an unknown format and a URL that is not http(s), adding nothing', async () => {
    const web = await loggedIn();
    await web.get('/ui/webhooks');
    expect((await web.post('/ui/webhooks', { url: 'https://hooks.example.test/borg', events: ['rm -rf'] })).status).toBe(400);
    expect(
      (await web.post('/ui/webhooks', { url: 'https://hooks.example.test/borg', events: ['host.stale'], format: 'teams' })).status,
    ).toBe(400);
    const fileUrl = await web.post('/ui/webhooks', { url: 'file:///etc/passwd', events: ['host.stale'] });
    expect(fileUrl.status).toBe(400);
    expect(fileUrl.text).toContain('role="alert"');
    expect((await web.get('/ui/webhooks')).text).not.toContain('data-webhook=');
  });
});

describe('tokens and the audit log on the page', () => {
  it('revokes an unused token, which then enrolls nothing', async () => {
    const web = await loggedIn();
    await web.get('/ui/tokens');
    await web.post('/ui/tokens', { ttl: '1h' });
    const [token] = listEnrollmentTokens(api.context);
    const revoked = await web.post(`/ui/tokens/${token?.jti}/revoke`);
    expect(revoked.location).toBe('/ui/tokens?notice=token-revoked');
    expect(listEnrollmentTokens(api.context)).toMatchObject([{ jti: token?.jti, status: 'revoked' }]);
    expect((await web.get('/ui/tokens')).text).not.toContain(`/ui/tokens/${token?.jti}/revoke`);
  });

  it('pages through the audit log, newest first', async () => {
    const web = await loggedIn();
    await web.get('/ui/tokens');
    for (let index = 0; index < 60; index += 1) await web.post('/ui/tokens', { ttl: '1h' });
    const first = await web.get('/ui/audit');
    const ids = [...first.text.matchAll(/data-audit="(\d+)"/g)].map((match) => Number(match[1]));
    expect(ids).toHaveLength(50);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const older = /href="(\/ui\/audit\?cursor=[A-Za-z0-9_-]+)" rel="next"/.exec(first.text)?.[1] ?? '';
    const second = await web.get(older);
    const rest = [...second.text.matchAll(/data-audit="(\d+)"/g)].map((match) => Number(match[1]));
    expect(Math.max(...rest)).toBeLessThan(Math.min(...ids));
    expect(rest.at(-1)).toBe(1);
  });
});

describe('maintainers on the page', () => {
  const TRUSTED = { name: 'trusted', allowFrom: '192.0.2.10' };
  const servedHosts = (...names: string[]) => {
    for (const name of names) addServedHostRow({ db: api.context.db, rootDb: api.rootDb }, name, api.clock.now());
  };
  const maintainerAudit = () =>
    listAudit(api.context.db, { limit: 100 })
      .map((entry) => entry.action)
      .filter((action) => action.startsWith('maintainer.'));
  /** The page's forms that change maintainers. */
  const maintainerFormsOf = (html: string) =>
    [...html.matchAll(/<form method="post" action="(\/ui\/maintainers[^"]*)"/g)].map((match) => match[1]);

  it('adds a maintainer, grants it hosts and every host, revokes them and removes it, each asked of root and audited', async () => {
    servedHosts('web1', 'web2');
    const web = await loggedIn();
    const empty = await web.get('/ui/maintainers');
    expect(empty.text).toContain('No maintainer yet.');
    expect(empty.text).toMatch(/<a href="\/ui\/maintainers" aria-current="page">Maintainers<\/a>/);
    expect(maintainerFormsOf(empty.text)).toEqual(['/ui/maintainers']);

    const added = await web.post('/ui/maintainers', { ...TRUSTED, publicKey: keys.trusted.publicKey });
    expect(added.location).toBe('/ui/maintainers?notice=maintainer-added');
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({
      fingerprint: keys.trusted.fingerprint,
      allowFrom: '192.0.2.10',
      hosts: [],
    });
    const listed = await web.get(added.location ?? '');
    expect(listed.text).toContain('Saved the maintainer');
    expect(listed.text).toContain('<tr data-maintainer="trusted">');
    expect(listed.text).toContain(`<code class="fingerprint">${keys.trusted.fingerprint}</code>`);
    expect(listed.text).toContain('<code>192.0.2.10</code>');
    expect(listed.text).toContain('<span class="muted">none</span>');
    expect(maintainerFormsOf(listed.text)).toEqual([
      '/ui/maintainers/trusted/grant',
      '/ui/maintainers/trusted/revoke',
      '/ui/maintainers/trusted/remove',
      '/ui/maintainers',
    ]);

    const granted = await web.post('/ui/maintainers/trusted/grant', { hosts: 'web1, web2' });
    expect(granted.location).toBe('/ui/maintainers?notice=maintainer-granted');
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ hosts: ['web1', 'web2'], isGrantedAllHosts: false });
    expect((await web.get('/ui/maintainers')).text).toContain('<a href="/ui/hosts/web1">web1</a>, <a href="/ui/hosts/web2">web2</a>');
    expect((await web.post('/ui/maintainers/trusted/revoke', { hosts: 'web2' })).location).toBe(
      '/ui/maintainers?notice=maintainer-revoked',
    );
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ hosts: ['web1'] });

    expect((await web.post('/ui/maintainers/trusted/grant', { hosts: '', all: 'yes' })).status).toBe(303);
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ hosts: ['web1'], isGrantedAllHosts: true });
    expect((await web.get('/ui/maintainers')).text).toMatch(/<span data-field="hosts"><strong>all<\/strong>/);
    expect((await web.get('/ui/hosts/web2')).text).toMatch(/data-field="maintenance">trusted/);
    expect((await web.post('/ui/maintainers/trusted/revoke', { all: 'yes' })).status).toBe(303);
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ hosts: ['web1'], isGrantedAllHosts: false });

    const removed = await web.post('/ui/maintainers/trusted/remove');
    expect(removed.location).toBe('/ui/maintainers?notice=maintainer-removed');
    expect(readMaintainer(api.rootDb, 'trusted')).toBeNull();
    expect((await web.get('/ui/maintainers')).text).toContain('No maintainer yet.');
    expect(maintainerAudit()).toEqual([
      'maintainer.remove',
      'maintainer.revoke',
      'maintainer.grant',
      'maintainer.revoke',
      'maintainer.grant',
      'maintainer.add',
    ]);
  });

  it('answers a hostile name, key, range or host list with the page`s error, and writes nothing', async () => {
    servedHosts('web1');
    const web = await loggedIn();
    await web.get('/ui/maintainers');
    const key = keys.trusted.publicKey.trim();
    const hostile = [
      { ...TRUSTED, name: '<script>alert(1)</script>', publicKey: key },
      { ...TRUSTED, name: 'root', publicKey: key },
      { ...TRUSTED, publicKey: `command="/bin/sh" ${key}` },
      { ...TRUSTED, publicKey: `${key}\nssh-ed25519 ${key.split(' ')[1]} second` },
      { ...TRUSTED, publicKey: 'ssh-ed25519 AAAA' },
      { ...TRUSTED, publicKey: key, allowFrom: '' },
      { ...TRUSTED, publicKey: key, allowFrom: '0.0.0.0/0" ,command="sh' },
      { ...TRUSTED, publicKey: keys.vm.publicKey.replace('ssh-ed25519', 'ssh-dss') },
    ];
    for (const fields of hostile) {
      const refused = await web.post('/ui/maintainers', fields);
      expect(refused.status, JSON.stringify(fields)).toBe(400);
      expect(refused.headers.get('content-type')).toContain('text/html');
      expect(refused.text).toContain('role="alert"');
      expect(refused.text).toContain('href="/ui/maintainers"');
      expect(refused.text).not.toContain('<script>alert');
    }
    expect(readMaintainer(api.rootDb, 'trusted')).toBeNull();
    expect(maintainerAudit()).toEqual([]);

    expect((await web.post('/ui/maintainers', { ...TRUSTED, publicKey: key })).status).toBe(303);
    for (const [hosts, status] of [
      ['web1, ../etc', 400],
      ['web1 ghost', 404],
      ['', 400],
    ] as const) {
      const refused = await web.post('/ui/maintainers/trusted/grant', { hosts });
      expect(refused.status, hosts).toBe(status);
      expect(refused.text).toContain('role="alert"');
    }
    const tooMany = Array.from({ length: MAX_HOSTS_PER_CHANGE + 1 }, (_, index) => `h${index}`).join(',');
    const refusedMany = await web.post('/ui/maintainers/trusted/grant', { hosts: tooMany });
    expect(refusedMany.status).toBe(400);
    expect(refusedMany.text).toContain(`at most ${MAX_HOSTS_PER_CHANGE} hosts`);
    expect((await web.post('/ui/maintainers/Bad_Name/grant', { hosts: 'web1' })).status).toBe(400);
    expect((await web.post('/ui/maintainers/ghost/remove')).status).toBe(404);
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ hosts: [], isGrantedAllHosts: false });
    expect(maintainerAudit()).toEqual(['maintainer.add']);
  });

  it('shows a read session the maintainers without a form, and refuses each form posted anyway', async () => {
    servedHosts('web1');
    const registered = await callApi(api.app, 'POST', '/v1/admin/maintainers', {
      token: api.adminToken,
      body: { ...TRUSTED, publicKey: keys.trusted.publicKey },
    });
    expect(registered.status).toBe(201);
    const reader = createWebClient(api.app);
    await reader.logIn(createTestAdminToken(api.context, 'auditor', { role: 'read' }));
    const page = await reader.get('/ui/maintainers');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<tr data-maintainer="trusted">');
    expect(maintainerFormsOf(page.text)).toEqual([]);
    const posts: [string, Record<string, string>][] = [
      ['/ui/maintainers', { name: 'other', publicKey: keys.vm.publicKey, allowFrom: '192.0.2.11' }],
      ['/ui/maintainers/trusted/grant', { hosts: 'web1' }],
      ['/ui/maintainers/trusted/revoke', { all: 'yes' }],
      ['/ui/maintainers/trusted/remove', {}],
    ];
    for (const [path, fields] of posts) {
      const refused = await reader.post(path, fields);
      expect(refused.status, path).toBe(403);
      expect(refused.text).toContain('admin role');
    }
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ hosts: [], isGrantedAllHosts: false });
    expect(readMaintainer(api.rootDb, 'other')).toBeNull();
  });
});
