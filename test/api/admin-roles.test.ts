import { describe, expect, it } from 'vitest';
import type { RouteDeclaration } from '../../src/api/routes/route-table.js';
import { ADMIN_ROLES, type AdminRole } from '../../src/domain/admin-roles.js';
import { enrollPending } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { addServedHostRow } from '../support/host-rows.js';
import { callApi, createTestAdminToken } from '../support/test-context.js';
import { createWebClient } from '../support/web-client.js';

const api = useTestApi();
const keys = useSshKeys({ vm: 'ed25519', trusted: 'ed25519' });

/**
 * What each role may call, written from the roles' definition (README, issue
 * 20), not from the route table: the table is what this test checks.
 */
function isAllowed(role: AdminRole, { method, path }: RouteDeclaration): boolean {
  switch (role) {
    case 'admin':
      return true;
    case 'read':
      return method === 'GET' && path !== '/metrics';
    case 'metrics':
      return path === '/metrics';
    case 'enroll':
      return ['/v1/admin/tokens', '/ui/tokens'].includes(path) && (method === 'GET' || method === 'POST');
  }
}

/** The routes anybody may call: a VM's, the health check, the server's identity, the login page and its assets. */
const PUBLIC_ROUTES = [
  'GET /',
  'GET /healthz',
  'GET /v1/server',
  'GET /v1/openapi.json',
  'GET /enroll.sh',
  'POST /v1/enroll',
  'GET /v1/enrollments/:id',
  'GET /v1/enrollments/:id/known_hosts',
  'GET /ui/login',
  'POST /ui/login',
  'GET /ui/assets/app.css',
  'GET /ui/assets/app.js',
  'GET /ui/assets/icon.svg',
];

/** Routes for any signed-in role: leaving the page. */
const ANY_ROLE_ROUTES = ['POST /ui/logout'];

const keyOf = ({ method, path }: { method: string; path: string }) => `${method} ${path}`;

/** A path to call for a route: its parameters filled with values of the right shape (no such host, token, webhook). */
function concretePath(path: string): string {
  return path
    .replace(':name', 'web1')
    .replace(':jti', 'some-jti')
    .replace(':id', path.includes('webhooks') ? 'wh_AAAAAAAAAAAAAAAAAAAAAA' : 'AAAAAAAAAAAAAAAAAAAAAA');
}

/** The app's real routes (from Hono's own list): every method and path a handler answers, catch-alls and middleware left out. */
function servedRoutes(): string[] {
  const served = api.app.routes.filter((route) => route.method !== 'ALL').map(keyOf);
  return [...new Set(served)].sort();
}

function declared(): RouteDeclaration[] {
  return api.app.declaredRoutes;
}

function roleRoutes(): RouteDeclaration[] {
  return declared().filter((route) => route.access !== 'public' && route.access !== 'any');
}

describe('the route table', () => {
  it('declares every route the app serves, each once', () => {
    const keys = declared().map(keyOf);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(servedRoutes());
  });

  it('opens to anybody only the routes that must be public', () => {
    const publicRoutes = declared().filter((route) => route.access === 'public');
    expect(publicRoutes.map(keyOf).sort()).toEqual([...PUBLIC_ROUTES].sort());
    const anyRole = declared().filter((route) => route.access === 'any');
    expect(anyRole.map(keyOf)).toEqual(ANY_ROLE_ROUTES);
  });

  it('covers the admin API, /metrics and the page', () => {
    const paths = roleRoutes().map((route) => route.path);
    expect(paths).toContain('/metrics');
    expect(paths.filter((path) => path.startsWith('/v1/admin/')).length).toBeGreaterThan(15);
    expect(paths.filter((path) => path.startsWith('/ui')).length).toBeGreaterThan(15);
  });
});

describe('every admin API route × every role', () => {
  const apiRoutes = () => roleRoutes().filter((route) => !route.path.startsWith('/ui'));

  it.each(ADMIN_ROLES)('a %s token gets exactly the routes of its role; the others answer 403 naming the role', async (role) => {
    const token = createTestAdminToken(api.context, `${role} token`, { role });
    const outcomes: string[] = [];
    for (const route of apiRoutes()) {
      const response = await callApi(api.app, route.method, concretePath(route.path), {
        token,
        ...(route.method === 'POST' || route.method === 'PATCH' ? { body: {} } : {}),
      });
      if (isAllowed(role, route)) {
        if (response.status === 401 || response.status === 403) outcomes.push(`${keyOf(route)} refused (${response.status})`);
      } else if (response.status !== 403 || response.body?.error !== 'FORBIDDEN' || response.body?.requiredRole !== route.access) {
        outcomes.push(`${keyOf(route)} answered ${response.status} ${JSON.stringify(response.body)}`);
      }
    }
    expect(outcomes).toEqual([]);
  });
});

describe('every page route × every role that may log in', () => {
  const pageRoutes = () => roleRoutes().filter((route) => route.path.startsWith('/ui'));

  it.each(['admin', 'read', 'enroll'] as const)(
    'a %s session gets exactly the pages and forms of its role; the others 403',
    async (role) => {
      const token = createTestAdminToken(api.context, `${role} page`, { role });
      const outcomes: string[] = [];
      for (const route of pageRoutes()) {
        // A fresh login per route: a form that succeeds may change what the next one sees.
        const browser = createWebClient(api.app);
        expect((await browser.logIn(token)).status).toBe(303);
        const path = concretePath(route.path);
        const response = route.method === 'GET' ? await browser.get(path) : await browser.post(path, {});
        const isRefused = response.status === 401 || response.status === 403;
        if (isAllowed(role, route) === isRefused) outcomes.push(`${keyOf(route)} answered ${response.status}`);
      }
      expect(outcomes).toEqual([]);
    },
  );

  it('refuses to log a metrics token in to the page', async () => {
    const browser = createWebClient(api.app);
    const response = await browser.logIn(createTestAdminToken(api.context, 'prometheus', { role: 'metrics' }));
    expect(response.status).toBe(403);
    expect(browser.cookie).toBeUndefined();
  });
});

describe('expiry', () => {
  it('accepts a token until it expires and answers 401 from then on', async () => {
    const expiresAt = new Date(api.clock.now().getTime() + 90 * 86400_000);
    const token = createTestAdminToken(api.context, 'ci', { role: 'read', expiresAt });
    api.clock.set(new Date(expiresAt.getTime() - 1000));
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts', { token })).status).toBe(200);
    api.clock.set(expiresAt);
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('UNAUTHORIZED');
  });

  it("ends the page's session when its token expires", async () => {
    const expiresAt = new Date(api.clock.now().getTime() + 3600_000);
    const browser = createWebClient(api.app);
    await browser.logIn(createTestAdminToken(api.context, 'short', { role: 'read', expiresAt }));
    expect((await browser.get('/ui/hosts')).status).toBe(200);
    api.clock.set(expiresAt);
    const page = await browser.get('/ui/hosts');
    expect(page.status).toBe(303);
    expect(page.location).toMatch(/^\/ui\/login/);
  });
});

describe('the audit log', () => {
  it('names the label of the token a change was made with, by the API and on the page', async () => {
    const token = createTestAdminToken(api.context, 'ci-enroller', { role: 'enroll' });
    expect((await callApi(api.app, 'POST', '/v1/admin/tokens', { token, body: {} })).status).toBe(201);
    const browser = createWebClient(api.app);
    await browser.logIn(createTestAdminToken(api.context, 'alice laptop', { role: 'enroll' }));
    expect((await browser.post('/ui/tokens', { ttl: '1h' })).status).toBe(200);
    const entries = (await callApi(api.app, 'GET', '/v1/admin/audit', { token: api.adminToken })).body.entries as {
      actor: string;
      action: string;
    }[];
    const minted = entries.filter((entry) => entry.action === 'token.create').map((entry) => entry.actor);
    expect(minted).toEqual([
      expect.stringMatching(/^admin:\w{12} \(alice laptop\)$/),
      expect.stringMatching(/^admin:\w{12} \(ci-enroller\)$/),
    ]);
  });
});

describe('the page by role', () => {
  /** The forms a page offers: their actions, logout left out. */
  const formsOf = (html: string) =>
    [...html.matchAll(/<form method="post" action="([^"]+)"/g)].map((match) => match[1]).filter((action) => action !== '/ui/logout');

  it('shows a read session no form that changes anything, and its sections all', async () => {
    const token = api.adminToken;
    const minted = await callApi(api.app, 'POST', '/v1/admin/tokens', { token, body: {} });
    expect(minted.status).toBe(201);
    const webhook = { url: 'https://hooks.example.test/in' };
    expect((await callApi(api.app, 'POST', '/v1/admin/webhooks', { token, body: webhook })).status).toBe(201);
    await enrollPending(api.app, token, 'new1', keys.vm);
    addServedHostRow({ db: api.context.db, rootDb: api.rootDb }, 'web1', api.clock.now());
    const maintainer = { name: 'trusted', publicKey: keys.trusted.publicKey, allowFrom: '192.0.2.10' };
    expect((await callApi(api.app, 'POST', '/v1/admin/maintainers', { token, body: maintainer })).status).toBe(201);
    const pages = ['/ui', '/ui/enrollments', '/ui/hosts', '/ui/hosts/web1', '/ui/maintainers', '/ui/tokens', '/ui/webhooks', '/ui/audit'];
    const reader = createWebClient(api.app);
    await reader.logIn(createTestAdminToken(api.context, 'auditor', { role: 'read' }));
    for (const path of pages) {
      const page = await reader.get(path);
      expect(page.status, path).toBe(200);
      expect(formsOf(page.text), path).toEqual([]);
    }
    // The same pages offer an admin their forms: the check above would see them.
    const admin = createWebClient(api.app);
    await admin.logIn(api.adminToken);
    expect(formsOf((await admin.get('/ui/tokens')).text)).toContain(`/ui/tokens/${minted.body.jti}/revoke`);
    for (const path of ['/ui/enrollments', '/ui/hosts/web1', '/ui/maintainers', '/ui/webhooks']) {
      expect(formsOf((await admin.get(path)).text).length, path).toBeGreaterThan(0);
    }
  });

  it('shows an enroll session only the tokens page, with the mint form and no revoke button', async () => {
    const minted = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
    expect(minted.status).toBe(201);
    const browser = createWebClient(api.app);
    const login = await browser.logIn(createTestAdminToken(api.context, 'ci', { role: 'enroll' }));
    expect(login.location).toBe('/ui/tokens');
    const page = await browser.get('/ui/tokens');
    expect(formsOf(page.text)).toEqual(['/ui/tokens']);
    const sections = [...page.text.matchAll(/<nav[\s\S]*?<\/nav>/g)][0]?.[0] ?? '';
    expect([...sections.matchAll(/<a href="([^"]+)"/g)].map((match) => match[1])).toEqual(['/ui/tokens']);
  });

  it('refuses a read session a form posted anyway, with 403, and changes nothing', async () => {
    const minted = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
    const reader = createWebClient(api.app);
    await reader.logIn(createTestAdminToken(api.context, 'auditor', { role: 'read' }));
    const response = await reader.post(`/ui/tokens/${minted.body.jti}/revoke`, {});
    expect(response.status).toBe(403);
    expect(response.text).toContain('admin role');
    const tokens = await callApi(api.app, 'GET', '/v1/admin/tokens', { token: api.adminToken });
    expect(tokens.body.tokens).toMatchObject([{ jti: minted.body.jti, status: 'issued' }]);
  });
});
