import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { useTestApi } from '../support/fixture-hooks.js';
import { callApi, makeTestApp, makeTestContext, TEST_ENVIRONMENT } from '../support/test-context.js';

const api = useTestApi();

function expectErrorBody(body: unknown, code: string) {
  expect(body).toEqual({ error: code, message: expect.any(String) });
}

describe('an oversized body', () => {
  it('is refused with 413 and a JSON error', async () => {
    const response = await callApi(api.app, 'POST', '/v1/enroll', {
      token: 'x',
      headers: { 'content-type': 'application/json' },
      rawBody: JSON.stringify({ hostname: 'web1', publicKey: 'x'.repeat(MAX_BODY_BYTES) }),
    });
    expect(response.status).toBe(413);
    expectErrorBody(response.body, 'BODY_TOO_LARGE');
  });

  it('is refused with 413 when its Content-Length says so', async () => {
    const body = JSON.stringify({ padding: 'x'.repeat(MAX_BODY_BYTES) });
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', {
      token: api.adminToken,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      rawBody: body,
    });
    expect(response.status).toBe(413);
    expectErrorBody(response.body, 'BODY_TOO_LARGE');
  });

  it('mints no token', async () => {
    await callApi(api.app, 'POST', '/v1/admin/tokens', {
      token: api.adminToken,
      headers: { 'content-type': 'application/json' },
      rawBody: JSON.stringify({ host: 'web1', padding: 'x'.repeat(MAX_BODY_BYTES) }),
    });
    expect((await callApi(api.app, 'GET', '/v1/admin/tokens', { token: api.adminToken })).body.tokens).toEqual([]);
  });
});

describe('a malformed request', () => {
  it('with malformed JSON is refused with 400 and a JSON error', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', {
      token: api.adminToken,
      headers: { 'content-type': 'application/json' },
      rawBody: '{"host": "web1",',
    });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it('with a JSON array instead of an object is refused with 400', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: ['web1'] });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it('with an unknown field is refused with 400', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: { host: 'web1', admin: true } });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it('with an unknown field in an enrollment is refused with 400', async () => {
    const response = await callApi(api.app, 'POST', '/v1/enroll', {
      token: 'x',
      body: { hostname: 'web1', publicKey: 'ssh-ed25519 AAAA', options: 'x' },
    });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['a form', 'application/x-www-form-urlencoded'],
  ])('sent as %s to the token route is refused with 400, and mints no token', async (_label, contentType) => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', {
      token: api.adminToken,
      headers: { 'content-type': contentType },
      rawBody: JSON.stringify({ host: 'web1', allowFrom: '192.0.2.0/24' }),
    });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
    expect((await callApi(api.app, 'GET', '/v1/admin/tokens', { token: api.adminToken })).body.tokens).toEqual([]);
  });

  it('sent as text/plain to the enrollment route is refused with 400', async () => {
    const response = await callApi(api.app, 'POST', '/v1/enroll', {
      token: 'x',
      headers: { 'content-type': 'text/plain' },
      rawBody: JSON.stringify({ hostname: 'web1', publicKey: 'ssh-ed25519 AAAA' }),
    });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it('with an overlong field is refused with 400', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: { host: 'a'.repeat(65) } });
    expect(response.status).toBe(400);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });
});

describe('a request without a body where none is needed', () => {
  it('denies an enrollment with no body at all', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/enrollments/AAAAAAAAAAAAAAAAAAAAAA/deny', { token: api.adminToken });
    expect(response.status).toBe(404);
    expectErrorBody(response.body, 'NOT_FOUND');
  });

  it('mints a token with default settings from an empty JSON object', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
    expect(response.status).toBe(201);
  });
});

describe('every error', () => {
  it.each([
    ['GET', '/nope', {}, 404],
    ['GET', '/v1/admin/hosts', {}, 401],
    ['GET', '/v1/admin/hosts/nope', { admin: true }, 404],
    ['POST', '/v1/enroll', { body: { hostname: 'web1', publicKey: 'x' } }, 401],
    ['POST', '/v1/enroll', { token: 'x', body: { hostname: 'web1', publicKey: 'x' } }, 401],
    ['GET', '/v1/enrollments/short', {}, 404],
    ['POST', '/v1/admin/tokens', { admin: true, body: { ttl: 'forever' } }, 400],
  ] as const)('%s %s answers a {error, message} JSON body', async (method, path, options, status) => {
    const response = await callApi(api.app, method, path, { ...options, ...('admin' in options ? { token: api.adminToken } : {}) });
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(response.body).sort()).toEqual(['error', 'message']);
    expect(typeof response.body.error).toBe('string');
    expect(typeof response.body.message).toBe('string');
  });

  it('that is unexpected answers 500 INTERNAL without details, and is logged', async () => {
    const logged: unknown[] = [];
    const failing = makeTestApp(
      {
        ...api.context,
        readSshHostKeys: () => {
          throw new Error('disk on fire at /srv/secret');
        },
      },
      { logError: (error) => logged.push(error) },
    );
    const response = await callApi(failing, 'GET', '/v1/server');
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ error: 'INTERNAL', message: 'internal error' });
    expect(logged).toHaveLength(1);
  });
});

describe('Strict-Transport-Security', () => {
  it('is sent when the public URL is https://', async () => {
    expect((await callApi(api.app, 'GET', '/healthz')).headers.get('strict-transport-security')).toBe('max-age=31536000');
  });

  it('is not sent over plain HTTP', async () => {
    const { context } = await makeTestContext({
      config: loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_PUBLIC_URL: 'http://backup.example.test' }),
    });
    expect((await callApi(makeTestApp(context), 'GET', '/healthz')).headers.get('strict-transport-security')).toBeNull();
  });
});

describe('Cache-Control', () => {
  it.each([
    ['GET', '/healthz', {}],
    ['GET', '/v1/server', {}],
    ['GET', '/enroll.sh', {}],
    ['GET', '/v1/admin/hosts', { admin: true }],
    ['POST', '/v1/admin/tokens', { admin: true, body: {} }],
    ['GET', '/v1/admin/hosts', {}],
    ['GET', '/nope', {}],
    ['GET', '/v1/enrollments/AAAAAAAAAAAAAAAAAAAAAA', {}],
    ['POST', '/v1/enroll', { token: 'x', headers: { 'content-type': 'application/json' }, rawBody: 'x'.repeat(MAX_BODY_BYTES + 1) }],
  ] as const)('is no-store on %s %s', async (method, path, options) => {
    const response = await callApi(api.app, method, path, { ...options, ...('admin' in options ? { token: api.adminToken } : {}) });
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});
