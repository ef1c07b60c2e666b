import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import {
  DESKTOP,
  launchBrowser,
  openWatchedPage,
  PAGE_POLL,
  PHONE,
  reloadUntil,
  saveScreenshot,
  scrollsSideways,
  type TestBrowser,
  type WatchedPage,
} from '../support/browser.js';
import { runEnrollCommand, waitForFingerprint } from '../support/enroll-command.js';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { createKeyDirectory } from '../support/ssh-keys.js';

/**
 * The admin page in Debian's chromium against the real server (borgctl serve
 * in a sandbox, real sshd and borg): an admin logs in, mints a token, copies
 * the command with the page's button, a VM runs it with real curl, the admin
 * approves the fingerprint on the page, and the VM's real backup shows up.
 * Screenshots of every page go to test-artifacts/screenshots.
 */

const PAGES: [string, string][] = [
  ['overview', '/ui'],
  ['enrollments', '/ui/enrollments'],
  ['hosts', '/ui/hosts'],
  ['host', '/ui/hosts/web1'],
  ['maintainers', '/ui/maintainers'],
  ['tokens', '/ui/tokens'],
  ['webhooks', '/ui/webhooks'],
  ['audit', '/ui/audit'],
];

describe('the admin page in chromium, against the real server', () => {
  let server: ServerSandbox;
  let browser: TestBrowser;
  let borg: BorgClient;
  let admin: WatchedPage;
  let failed = false;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startServerSandbox();
    borg = await createBorgClient('web1');
    admin = await openWatchedPage(browser, server.sandbox.baseUrl);
  });

  afterAll(async () => {
    await admin?.close();
    await browser?.close();
    await borg?.remove();
    await stopServerSandbox(server, {
      task: { name: 'admin page', result: { state: failed ? 'fail' : 'pass' } },
    } as unknown as TestContext);
  });

  const track = async (body: () => Promise<void>) => {
    try {
      await body();
    } catch (error) {
      failed = true;
      throw error;
    }
  };

  async function logIn(watched: WatchedPage, token: string) {
    await watched.page.goto(`${server.sandbox.baseUrl}/ui`);
    await watched.page.getByLabel('Admin token').fill(token);
    await watched.page.getByRole('button', { name: 'Log in' }).click();
    await watched.page.waitForURL(`${server.sandbox.baseUrl}/ui`);
  }

  it('refuses a wrong admin token and says so', () =>
    track(async () => {
      const { page } = admin;
      admin.allow(/status of 401/);
      await page.goto(`${server.sandbox.baseUrl}/ui/hosts`);
      expect(new URL(page.url()).pathname).toBe('/ui/login');
      await saveScreenshot(page, 'login');
      await page.getByLabel('Admin token').fill(`${server.api.adminToken.slice(0, -2)}xx`);
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => page.getByRole('alert').textContent(), PAGE_POLL).toContain('That admin token is not valid');
      await saveScreenshot(page, 'login-wrong-token');
      expect((await admin.context.cookies()).map((cookie) => cookie.name)).toEqual([]);
    }));

  it('enrolls a host from the page: mint, copy, run with real curl, approve, and its real backup shows', () =>
    track(async () => {
      const { page } = admin;
      const base = server.sandbox.baseUrl;
      await logIn(admin, server.api.adminToken);
      const [cookie] = await admin.context.cookies();
      expect(cookie).toMatchObject({ name: 'sbs_session', httpOnly: true, sameSite: 'Strict' });

      await page.getByRole('link', { name: 'Tokens' }).click();
      await page.getByLabel('Host name').fill('web1');
      await page.getByRole('button', { name: 'Mint token' }).click();
      const command = (await page.locator('#enroll-command').textContent()) ?? '';
      expect(command).toMatch(/^enroll=\$\(curl -fsS http:\/\/127\.0\.0\.1:\d+\/enroll\.sh\) && .*BORG_ENROLL_TOKEN='ey/);
      expect(page.url()).toBe(`${base}/ui/tokens`);
      await saveScreenshot(page, 'token-minted');
      await page.getByRole('button', { name: 'Copy' }).click();
      await expect.poll(() => page.getByRole('button', { name: 'Copied' }).count(), PAGE_POLL).toBe(1);
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      expect(copied).toBe(command);

      // The VM runs what the admin pasted: real curl fetches enroll.sh, which posts the key and waits.
      const script = runEnrollCommand(copied, borg.homeDir);
      const shownFingerprint = await waitForFingerprint(script);

      await page.getByRole('link', { name: 'Enrollments' }).click();
      const card = page.locator('article.enrollment', { hasText: 'web1' });
      await expect.poll(() => card.locator('code.fingerprint').textContent(), PAGE_POLL).toBe(shownFingerprint);
      await saveScreenshot(page, 'enrollment-pending');
      await card.getByLabel('Confirm the fingerprint').fill(shownFingerprint);
      await card.getByRole('button', { name: 'Approve' }).click();
      await page.waitForURL(`${base}/ui/hosts/web1?notice=approved`);
      expect(await page.getByRole('status').textContent()).toContain('Approved');
      expect(await page.locator('[data-field=status]').textContent()).toContain('active');

      const finished = await script.subprocess;
      expect(finished, script.stderr()).toMatchObject({ exitCode: 0 });
      const settings = Object.fromEntries(
        [...String(finished.stdout).matchAll(/^export (BORG_REPO|BORG_RSH)='([^']*)'$/gm)].map((match) => [match[1], match[2]]),
      );
      const env = { BORG_REPO: String(settings.BORG_REPO), BORG_RSH: String(settings.BORG_RSH) };
      expect(await borg.run(['init', '--encryption', 'none'], { env })).toMatchObject({ exitCode: 0 });
      expect(await borg.run(['create', '::first', borg.dataDir], { env })).toMatchObject({ exitCode: 0 });

      // The server records the session once borg serve has gone: reload until the page shows it.
      const lastBackup = page.locator('[data-field=last-backup]');
      await reloadUntil(page, async () => !(await lastBackup.textContent())?.includes('never'), 'the backup');
      expect(await lastBackup.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(await page.locator('[data-field=status]').textContent()).toContain('ok');
      expect(await page.locator('tr[data-session] td[data-label=Outcome]').first().textContent()).toBe('backup');
      expect(await page.locator('svg.chart rect.bar').count()).toBeGreaterThan(0);
      expect(await page.locator('tr[data-audit] td[data-label=What]').allTextContents()).toContain('enrollment.approve');

      await page.getByRole('link', { name: 'Overview' }).click();
      expect(await page.locator('li[data-count="Backed up in time"] strong').textContent()).toBe('1');
      expect(admin.problems).toEqual([]);
    }));

  it('adds a maintainer on the page and grants it the host, each change served by the real root side', () =>
    track(async () => {
      const { page } = admin;
      const keys = createKeyDirectory();
      try {
        const trusted = keys.generate('trusted', 'ed25519');
        await page.getByRole('link', { name: 'Maintainers' }).click();
        expect(await page.locator('main').textContent()).toContain('No maintainer yet.');
        await page.getByLabel('Name').fill('trusted');
        await page.getByLabel('Public key').fill(trusted.publicKey);
        await page.getByLabel('Connects from').fill('192.0.2.10');
        await page.getByRole('button', { name: 'Add maintainer' }).click();
        await page.waitForURL(`${server.sandbox.baseUrl}/ui/maintainers?notice=maintainer-added`);
        const row = page.locator('tr[data-maintainer=trusted]');
        expect(await row.locator('code.fingerprint').textContent()).toBe(trusted.fingerprint);

        const forms = page.locator('[data-maintainer-forms=trusted]');
        await forms.getByLabel('Hosts to grant').fill('web1');
        await forms.getByRole('button', { name: 'Grant full access' }).click();
        await page.waitForURL(`${server.sandbox.baseUrl}/ui/maintainers?notice=maintainer-granted`);
        expect(await row.locator('[data-field=hosts]').textContent()).toBe('web1');
        const served = await server.api.request<{ hosts: string[] }>('GET', '/v1/admin/maintainers/trusted', {
          bearer: server.api.adminToken,
        });
        expect(served.body.hosts).toEqual(['web1']);
        await saveScreenshot(page, 'maintainer-granted');
        expect(admin.problems).toEqual([]);
      } finally {
        keys.remove();
      }
    }));

  it('refuses a form another site posts in the logged-in browser, and mints nothing', () =>
    track(async () => {
      const before = await server.api.request<{ tokens: unknown[] }>('GET', '/v1/admin/tokens', { bearer: server.api.adminToken });
      // Same site (127.0.0.1), another port: SameSite lets the cookie through; the Origin check stops the post.
      const evil = await serveEvilPage(`${server.sandbox.baseUrl}/ui/tokens`);
      try {
        admin.allow(/status of 403/);
        const { page } = admin;
        await page.goto(evil.url);
        await page.waitForURL(`${server.sandbox.baseUrl}/ui/tokens`);
        expect(await page.getByRole('alert').textContent()).toContain('not sent from this page');
        await saveScreenshot(page, 'cross-site-post-refused');
      } finally {
        await new Promise((resolve) => evil.server.close(resolve));
      }
      const after = await server.api.request<{ tokens: unknown[] }>('GET', '/v1/admin/tokens', { bearer: server.api.adminToken });
      expect(after.body.tokens).toHaveLength(before.body.tokens.length);
      expect(admin.problems).toEqual([]);
    }));

  it('shows every page without console errors, on a desktop and on a 375 px phone without sideways scrolling', () =>
    track(async () => {
      const phone = await openWatchedPage(browser, server.sandbox.baseUrl, { device: PHONE });
      try {
        await logIn(phone, server.api.adminToken);
        for (const [name, path] of PAGES) {
          await admin.page.goto(`${server.sandbox.baseUrl}${path}`);
          await saveScreenshot(admin.page, `desktop-${name}`);
          await phone.page.goto(`${server.sandbox.baseUrl}${path}`);
          await saveScreenshot(phone.page, `phone-${name}`);
          expect(await scrollsSideways(phone.page), `${path} scrolls sideways on a phone`).toBe(false);
          expect(await admin.page.locator('h1').count()).toBe(1);
        }
        expect(DESKTOP.viewport.width).toBeGreaterThan(PHONE.viewport.width);
        expect(phone.problems).toEqual([]);
        expect(admin.problems).toEqual([]);
      } finally {
        await phone.close();
      }
    }));

  it('logs out: the page asks for a login again, and the old cookie opens nothing', () =>
    track(async () => {
      const { page } = admin;
      const oldCookies = await admin.context.cookies();
      await page.goto(`${server.sandbox.baseUrl}/ui`);
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL(`${server.sandbox.baseUrl}/ui/login?notice=logged-out`);
      expect(await page.getByRole('status').textContent()).toContain('logged out');
      await saveScreenshot(page, 'logged-out');
      await admin.context.addCookies(oldCookies);
      await page.goto(`${server.sandbox.baseUrl}/ui/hosts`);
      expect(new URL(page.url()).pathname).toBe('/ui/login');
      expect(admin.problems).toEqual([]);
    }));
});

/** Another site's page that posts a form to the admin page as soon as it loads. */
async function serveEvilPage(target: string): Promise<{ server: Server; url: string }> {
  const html = `<!DOCTYPE html><form id="f" method="post" action="${target}"><input name="ttl" value="7d"><input name="autoApprove" value="yes"></form><script>document.getElementById('f').submit()</script>`;
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}
