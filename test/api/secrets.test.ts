import { describe, expect, it } from 'vitest';
import { approve, enroll, enrollApproved, mintToken } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import type { GeneratedSshKey } from '../support/ssh-keys.js';
import { callApi, signingKeyPrivatePart } from '../support/test-context.js';

const keys = useSshKeys({ vm: 'ed25519', other: 'ed25519' });
const api = useTestApi();

/** The base64 body of an OpenSSH private key file, without its armour lines. */
function privateKeyBody(key: GeneratedSshKey): string {
  return key.privateKey
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('-----'))
    .join('');
}

/** Every secret a test run has handed out, with the name to report it by. */
function secretsOf(tokens: string[]): [string, string][] {
  const adminSecret = api.adminToken.split('_').slice(2).join('_');
  return [
    ['admin token', api.adminToken],
    ['admin token secret', adminSecret],
    ['signing key private part', signingKeyPrivatePart(api.signingKey)],
    ['VM private key', privateKeyBody(keys.vm).slice(0, 64)],
    ['other VM private key', privateKeyBody(keys.other).slice(0, 64)],
    ...tokens.flatMap((token, index): [string, string][] => [
      [`enrollment token ${index}`, token],
      [`enrollment token ${index} signature`, token.split('.')[2] ?? ''],
    ]),
  ];
}

/** Runs through every state change the API offers, and returns the enrollment tokens used. */
async function exerciseEverything(): Promise<string[]> {
  const usedToken = await mintToken(api.app, api.adminToken, { host: 'web1', quota: '500G' });
  const enrolled = await enroll(api.app, usedToken, 'web1', keys.vm);
  await approve(api.app, api.adminToken, enrolled.body.id, { fingerprint: keys.vm.fingerprint });
  const revokedMint = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
  await callApi(api.app, 'DELETE', `/v1/admin/tokens/${revokedMint.body.jti}`, { token: api.adminToken });
  await enroll(api.app, revokedMint.body.token, 'web3', keys.other);
  const deniedToken = await mintToken(api.app, api.adminToken);
  const denied = await enroll(api.app, deniedToken, 'web2', keys.other);
  await callApi(api.app, 'POST', `/v1/admin/enrollments/${denied.body.id}/deny`, { token: api.adminToken, body: { reason: 'no' } });
  await enroll(api.app, usedToken, 'web1', keys.vm);
  await callApi(api.app, 'PATCH', '/v1/admin/hosts/web1', { token: api.adminToken, body: { disabled: true } });
  await callApi(api.app, 'DELETE', '/v1/admin/hosts/web1?purge=true', { token: api.adminToken });
  const unusedToken = await mintToken(api.app, api.adminToken, { ttl: '1h' });
  return [usedToken, revokedMint.body.token, deniedToken, unusedToken];
}

describe('GET /v1/admin/audit', () => {
  it('lists every state change, newest first, with actor and source', async () => {
    await exerciseEverything();
    const response = await callApi(api.app, 'GET', '/v1/admin/audit', { token: api.adminToken });
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

  it('pages with limit and cursor', async () => {
    await exerciseEverything();
    const first = await callApi(api.app, 'GET', '/v1/admin/audit?limit=2', { token: api.adminToken });
    expect(first.body.entries).toHaveLength(2);
    const next = await callApi(api.app, 'GET', `/v1/admin/audit?limit=2&cursor=${first.body.nextCursor}`, { token: api.adminToken });
    expect(next.body.entries[0].id).toBe(first.body.entries[1].id - 1);
  });

  it.each(['limit=abc', 'limit=0', 'limit=1001', 'limit=-1', 'limit=1.5', 'before=5', 'cursor=abc', 'cursor=-3', 'since=1'])(
    'refuses the query %s with 400',
    async (query) => {
      const response = await callApi(api.app, 'GET', `/v1/admin/audit?${query}`, { token: api.adminToken });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('BAD_REQUEST');
    },
  );

  it('never contains a token or a private key', async () => {
    const tokens = await exerciseEverything();
    const response = await callApi(api.app, 'GET', '/v1/admin/audit?limit=1000', { token: api.adminToken });
    for (const [name, secret] of secretsOf(tokens)) {
      expect(response.text.includes(secret), `${name} is in the audit log`).toBe(false);
    }
  });
});

describe('the database', () => {
  it('never contains a token or a private key, in any table or page', async () => {
    const tokens = await exerciseEverything();
    const dump = api.context.db.$client.serialize().toString('latin1');
    const rows = ['signing_keys', 'enrollment_tokens', 'enrollments', 'hosts', 'admin_tokens', 'audit_log']
      .map((table) => JSON.stringify(api.context.db.$client.prepare(`select * from ${table}`).all()))
      .join('\n');
    for (const [name, secret] of secretsOf(tokens)) {
      expect(dump.includes(secret), `${name} is in the database file`).toBe(false);
      expect(rows.includes(secret), `${name} is in a table`).toBe(false);
    }
  });
});

describe('error bodies', () => {
  it('never echo the enrollment token', async () => {
    const token = await mintToken(api.app, api.adminToken);
    await enroll(api.app, token, 'web1', keys.vm);
    const replay = await enroll(api.app, token, 'web1', keys.vm);
    expect(replay.status).toBe(409);
    expect(replay.text).not.toContain(token);
    expect(replay.text).not.toContain(token.split('.')[2]);
  });

  it('never echo a wrong admin token', async () => {
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token: `${api.adminToken}x` });
    expect(response.text).not.toContain(api.adminToken);
  });
});

describe('responses for an approved host', () => {
  it('carry no private key', async () => {
    const id = await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const responses = await Promise.all([
      callApi(api.app, 'GET', `/v1/enrollments/${id}`),
      callApi(api.app, 'GET', '/v1/admin/hosts/web1', { token: api.adminToken }),
      callApi(api.app, 'GET', '/v1/server'),
    ]);
    for (const response of responses) {
      expect(response.text).not.toContain(signingKeyPrivatePart(api.signingKey));
      expect(response.text).not.toContain(privateKeyBody(keys.vm).slice(0, 64));
      expect(response.text).not.toMatch(/PRIVATE KEY/);
    }
  });
});
