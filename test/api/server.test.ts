import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENROLL_SCRIPT_PATH } from '../../src/api/routes/server-routes.js';
import { useTestApi } from '../support/fixture-hooks.js';
import { callApi, makeTestApp, makeTestContext, TEST_SSH_HOST_KEYS, TEST_TLS_IDENTITY } from '../support/test-context.js';

const api = useTestApi();

describe('GET /healthz', () => {
  it('answers ok', async () => {
    const response = await callApi(api.app, 'GET', '/healthz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });
});

describe('GET /v1/server', () => {
  it('publishes the SSH host, the published port and the host keys with fingerprints', async () => {
    const response = await callApi(api.app, 'GET', '/v1/server');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ sshHost: 'backup.example.test', sshPort: 2022, publicUrl: 'https://backup.example.test:8443' });
    expect(response.body.sshHostKeys).toEqual(TEST_SSH_HOST_KEYS);
    // The fixture directory also holds an ECDSA key, as a state volume made before ECDSA was dropped does: not published.
    expect(response.body.sshHostKeys.map((key: { type: string }) => key.type)).toEqual(['ssh-ed25519', 'ssh-rsa']);
  });

  it('publishes known_hosts lines for the published port', async () => {
    const response = await callApi(api.app, 'GET', '/v1/server');
    expect(response.body.knownHosts).toEqual(TEST_SSH_HOST_KEYS.map((key) => `[backup.example.test]:2022 ${key.type} ${key.key}`));
  });

  it('publishes the pin of the TLS key', async () => {
    expect((await callApi(api.app, 'GET', '/v1/server')).body.tlsPin).toBe(TEST_TLS_IDENTITY.pin);
  });

  it('publishes no pin over plain HTTP', async () => {
    const { context } = await makeTestContext({ tlsIdentity: () => null });
    expect((await callApi(makeTestApp(context), 'GET', '/v1/server')).body.tlsPin).toBeNull();
  });

  it('needs no admin token', async () => {
    expect((await callApi(api.app, 'GET', '/v1/server')).status).toBe(200);
  });
});

describe('GET /enroll.sh', () => {
  it('serves the enrollment script with the public URL filled in', async () => {
    const response = await callApi(api.app, 'GET', '/enroll.sh');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/x-shellscript/);
    expect(response.text).toContain("SERVER_URL='https://backup.example.test:8443'");
    expect(response.text).not.toContain('@@SERVER_URL@@');
  });

  it('serves the script otherwise unchanged', async () => {
    const template = readFileSync(ENROLL_SCRIPT_PATH, 'utf8');
    const response = await callApi(api.app, 'GET', '/enroll.sh');
    expect(response.text).toBe(template.replace('@@SERVER_URL@@', 'https://backup.example.test:8443'));
  });
});

describe('an unknown route', () => {
  it('answers 404 with a JSON error', async () => {
    const response = await callApi(api.app, 'GET', '/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: 'NOT_FOUND', message: expect.any(String) });
  });
});
