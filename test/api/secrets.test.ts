import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approve, enroll, enrollApproved, mintToken } from '../support/enrollment-flow.js';
import { createKeyDirectory, type GeneratedSshKey, type KeyDirectory } from '../support/ssh-keys.js';
import {
  callApi,
  createTestAdminToken,
  makeTestApp,
  makeTestContext,
  signingKeyPrivatePart,
  type TestApp,
  type TestContext,
} from '../support/test-context.js';

let keys: KeyDirectory;
let vmKey: GeneratedSshKey;
let otherKey: GeneratedSshKey;
let test: TestContext;
let adminToken: string;
let app: TestApp;

beforeAll(() => {
  keys = createKeyDirectory();
  vmKey = keys.generate('vm', 'ed25519');
  otherKey = keys.generate('other', 'ed25519');
});

afterAll(() => keys.remove());

beforeEach(async () => {
  test = await makeTestContext();
  adminToken = createTestAdminToken(test.context);
  app = makeTestApp(test.context);
});

/** The base64 body of an OpenSSH private key file, without its armour lines. */
function privateKeyBody(key: GeneratedSshKey): string {
  return key.privateKey
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('-----'))
    .join('');
}

/** Every secret a test run has handed out, with the name to report it by. */
function secretsOf(tokens: string[]): [string, string][] {
  const adminSecret = adminToken.split('_').slice(2).join('_');
  return [
    ['admin token', adminToken],
    ['admin token secret', adminSecret],
    ['signing key private part', signingKeyPrivatePart(test.signingKey)],
    ['VM private key', privateKeyBody(vmKey).slice(0, 64)],
    ['other VM private key', privateKeyBody(otherKey).slice(0, 64)],
    ...tokens.flatMap((token, index): [string, string][] => [
      [`enrollment token ${index}`, token],
      [`enrollment token ${index} signature`, token.split('.')[2] ?? ''],
    ]),
  ];
}

/** Runs through every state change the API offers, and returns the enrollment tokens used. */
async function exerciseEverything(): Promise<string[]> {
  const usedToken = await mintToken(app, adminToken, { host: 'web1', quota: '500G' });
  const enrolled = await enroll(app, usedToken, 'web1', vmKey);
  await approve(app, adminToken, enrolled.body.id, { fingerprint: vmKey.fingerprint });
  const revokedMint = await callApi(app, 'POST', '/v1/admin/tokens', { token: adminToken, body: {} });
  await callApi(app, 'DELETE', `/v1/admin/tokens/${revokedMint.body.jti}`, { token: adminToken });
  await enroll(app, revokedMint.body.token, 'web3', otherKey);
  const deniedToken = await mintToken(app, adminToken);
  const denied = await enroll(app, deniedToken, 'web2', otherKey);
  await callApi(app, 'POST', `/v1/admin/enrollments/${denied.body.id}/deny`, { token: adminToken, body: { reason: 'no' } });
  await enroll(app, usedToken, 'web1', vmKey);
  await callApi(app, 'PATCH', '/v1/admin/hosts/web1', { token: adminToken, body: { disabled: true } });
  await callApi(app, 'DELETE', '/v1/admin/hosts/web1?purge=true', { token: adminToken });
  const unusedToken = await mintToken(app, adminToken, { ttl: '1h' });
  return [usedToken, revokedMint.body.token, deniedToken, unusedToken];
}

describe('GET /v1/admin/audit', () => {
  it('lists every state change, newest first, with actor and source', async () => {
    await exerciseEverything();
    const response = await callApi(app, 'GET', '/v1/admin/audit', { token: adminToken });
    expect(response.status).toBe(200);
    const actions = response.body.entries.map((entry: { action: string }) => entry.action).reverse();
    expect(actions).toEqual([
      'admin-token.create',
      'token.create',
      'enrollment.submit',
      'enrollment.approve',
      'token.create',
      'token.revoke',
      'token.create',
      'enrollment.submit',
      'enrollment.deny',
      'host.update',
      'host.purge',
      'token.create',
    ]);
    expect(response.body.entries.every((entry: { actor: string }) => entry.actor.length > 0)).toBe(true);
  });

  it('pages with limit and before', async () => {
    await exerciseEverything();
    const first = await callApi(app, 'GET', '/v1/admin/audit?limit=2', { token: adminToken });
    expect(first.body.entries).toHaveLength(2);
    const next = await callApi(app, 'GET', `/v1/admin/audit?limit=2&before=${first.body.entries[1].id}`, { token: adminToken });
    expect(next.body.entries[0].id).toBe(first.body.entries[1].id - 1);
  });

  it.each(['limit=abc', 'limit=0', 'limit=1001', 'limit=-1', 'limit=1.5', 'before=abc', 'before=-3', 'before=1e3', 'since=1'])(
    'refuses the query %s with 400',
    async (query) => {
      const response = await callApi(app, 'GET', `/v1/admin/audit?${query}`, { token: adminToken });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('BAD_REQUEST');
    },
  );

  it('never contains a token or a private key', async () => {
    const tokens = await exerciseEverything();
    const response = await callApi(app, 'GET', '/v1/admin/audit?limit=1000', { token: adminToken });
    for (const [name, secret] of secretsOf(tokens)) {
      expect(response.text.includes(secret), `${name} is in the audit log`).toBe(false);
    }
  });
});

describe('the database', () => {
  it('never contains a token or a private key, in any table or page', async () => {
    const tokens = await exerciseEverything();
    const dump = test.context.db.$client.serialize().toString('latin1');
    const rows = ['signing_keys', 'enrollment_tokens', 'enrollments', 'hosts', 'admin_tokens', 'audit_log']
      .map((table) => JSON.stringify(test.context.db.$client.prepare(`select * from ${table}`).all()))
      .join('\n');
    for (const [name, secret] of secretsOf(tokens)) {
      expect(dump.includes(secret), `${name} is in the database file`).toBe(false);
      expect(rows.includes(secret), `${name} is in a table`).toBe(false);
    }
  });
});

describe('error bodies', () => {
  it('never echo the enrollment token', async () => {
    const token = await mintToken(app, adminToken);
    await enroll(app, token, 'web1', vmKey);
    const replay = await enroll(app, token, 'web1', vmKey);
    expect(replay.status).toBe(409);
    expect(replay.text).not.toContain(token);
    expect(replay.text).not.toContain(token.split('.')[2]);
  });

  it('never echo a wrong admin token', async () => {
    const response = await callApi(app, 'GET', '/v1/admin/hosts', { token: `${adminToken}x` });
    expect(response.text).not.toContain(adminToken);
  });
});

describe('responses for an approved host', () => {
  it('carry no private key', async () => {
    const id = await enrollApproved(app, adminToken, 'web1', vmKey);
    const responses = await Promise.all([
      callApi(app, 'GET', `/v1/enrollments/${id}`),
      callApi(app, 'GET', '/v1/admin/hosts/web1', { token: adminToken }),
      callApi(app, 'GET', '/v1/server'),
    ]);
    for (const response of responses) {
      expect(response.text).not.toContain(signingKeyPrivatePart(test.signingKey));
      expect(response.text).not.toContain(privateKeyBody(vmKey).slice(0, 64));
      expect(response.text).not.toMatch(/PRIVATE KEY/);
    }
  });
});
