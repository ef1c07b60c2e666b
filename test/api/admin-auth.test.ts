import { describe, expect, it } from 'vitest';
import { revokeAdminToken } from '../../src/api/admin/admin-tokens.js';
import { createRateLimiter } from '../../src/api/middleware/rate-limit.js';
import { useTestApi } from '../support/fixture-hooks.js';
import { callApi, makeTestApp } from '../support/test-context.js';

const api = useTestApi();

function bodyFor(method: string) {
  return method === 'GET' || method === 'DELETE' ? {} : { body: {} };
}

const ADMIN_ROUTES: [string, string][] = [
  ['GET', '/v1/admin/tokens'],
  ['POST', '/v1/admin/tokens'],
  ['DELETE', '/v1/admin/tokens/some-jti'],
  ['GET', '/v1/admin/enrollments'],
  ['POST', '/v1/admin/enrollments/AAAAAAAAAAAAAAAAAAAAAA/approve'],
  ['POST', '/v1/admin/enrollments/AAAAAAAAAAAAAAAAAAAAAA/deny'],
  ['GET', '/v1/admin/hosts'],
  ['GET', '/v1/admin/hosts/web1'],
  ['PATCH', '/v1/admin/hosts/web1'],
  ['DELETE', '/v1/admin/hosts/web1'],
  ['GET', '/v1/admin/audit'],
];

describe('admin routes', () => {
  it.each(ADMIN_ROUTES)('%s %s refuses a request without a token', async (method, path) => {
    const response = await callApi(api.app, method, path, bodyFor(method));
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('UNAUTHORIZED');
  });

  it.each(ADMIN_ROUTES)('%s %s refuses a wrong token', async (method, path) => {
    const wrong = `${api.adminToken.slice(0, -1)}${api.adminToken.endsWith('A') ? 'B' : 'A'}`;
    const response = await callApi(api.app, method, path, { token: wrong, ...bodyFor(method) });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('UNAUTHORIZED');
  });

  it('refuses a revoked token', async () => {
    const id = api.adminToken.split('_')[1] ?? '';
    revokeAdminToken(api.context.db, id, api.clock.now(), 'test');
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('UNAUTHORIZED');
  });

  it('refuses an enrollment token in place of an admin token', async () => {
    const minted = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token: minted.body.token });
    expect(response.status).toBe(401);
  });

  it('refuses the token in another scheme than Bearer', async () => {
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { headers: { authorization: `Basic ${api.adminToken}` } });
    expect(response.status).toBe(401);
  });

  it('accepts the right token', async () => {
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ hosts: [], nextCursor: null });
  });
});

describe('admin login failures', () => {
  function appWithFailureLimit(limit: number) {
    return makeTestApp(api.context, { limits: { adminFailures: createRateLimiter({ limit, windowMs: 60_000 }) } });
  }

  it('answer 429 once the failure limit is reached', async () => {
    const limited = appWithFailureLimit(3);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt += 1) {
      statuses.push((await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it('say in Retry-After when the window ends', async () => {
    const limited = appWithFailureLimit(1);
    await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' });
    api.clock.advance(20_000);
    const response = await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' });
    expect([response.status, response.headers.get('retry-after')]).toEqual([429, '40']);
  });

  it('refuse even the right token once the limit is reached', async () => {
    const limited = appWithFailureLimit(2);
    await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' });
    await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' });
    const response = await callApi(limited, 'GET', '/v1/admin/hosts', { token: api.adminToken });
    expect(response.status).toBe(429);
    expect(response.body.error).toBe('RATE_LIMITED');
  });

  it('are forgotten once the window has passed', async () => {
    const limited = appWithFailureLimit(2);
    await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' });
    await callApi(limited, 'GET', '/v1/admin/hosts', { token: 'bsa_wrong' });
    api.clock.advance(60_000);
    expect((await callApi(limited, 'GET', '/v1/admin/hosts', { token: api.adminToken })).status).toBe(200);
  });

  it('are not counted for successful requests', async () => {
    const limited = appWithFailureLimit(2);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      expect((await callApi(limited, 'GET', '/v1/admin/hosts', { token: api.adminToken })).status).toBe(200);
    }
  });
});
