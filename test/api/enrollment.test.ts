import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/api/middleware/rate-limit.js';
import { approve, enroll, enrollApproved, enrollPending, mintToken } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { createKeyDirectory, type GeneratedSshKey } from '../support/ssh-keys.js';
import { callApi, makeTestApp, TEST_SSH_HOST_KEYS, TEST_TLS_IDENTITY } from '../support/test-context.js';

const keys = useSshKeys({ vm: 'ed25519', other: 'ecdsa256' });
const api = useTestApi();

describe('POST /v1/admin/tokens', () => {
  it('mints a token with its jti, expiry and the curl command', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: { host: 'web1', ttl: '15m' } });
    expect(response.status).toBe(201);
    expect(response.body).toEqual({
      token: expect.any(String),
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      expiresAt: new Date(api.clock.now().getTime() + 900_000).toISOString(),
      command: `enroll=$(curl -k --pinnedpubkey '${TEST_TLS_IDENTITY.pin}' -fsS https://backup.example.test:8443/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${response.body.token}' sh -s -- --pin '${TEST_TLS_IDENTITY.pin}'`,
    });
  });

  it('refuses a lifetime beyond seven days', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: { ttl: '8d' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('INVALID_DURATION');
  });

  it('refuses a hostile host name', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: { host: '../x' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('INVALID_HOST_NAME');
  });

  it('lists minted tokens without the token itself', async () => {
    const token = await mintToken(api.app, api.adminToken, { host: 'web1' });
    const response = await callApi(api.app, 'GET', '/v1/admin/tokens', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.body.tokens).toMatchObject([{ host: 'web1', status: 'issued' }]);
    expect(response.text).not.toContain(token);
  });
});

describe('the enrollment of a new host', () => {
  it('answers 202 pending with the fingerprint and the poll URL', async () => {
    const token = await mintToken(api.app, api.adminToken);
    const response = await enroll(api.app, token, 'web1', keys.vm);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      status: 'pending',
      hostname: 'web1',
      fingerprint: keys.vm.fingerprint,
      pollUrl: `https://backup.example.test:8443/v1/enrollments/${response.body.id}`,
    });
  });

  it('shows pending, without account details, before approval', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const response = await callApi(api.app, 'GET', `/v1/enrollments/${id}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'pending', hostname: 'web1', fingerprint: keys.vm.fingerprint });
  });

  it('is listed for the admin as pending', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const response = await callApi(api.app, 'GET', '/v1/admin/enrollments?status=pending', { token: api.adminToken });
    expect(response.body.enrollments).toMatchObject([{ id, hostname: 'web1', fingerprint: keys.vm.fingerprint, conflict: false }]);
  });

  it('refuses an unknown status filter', async () => {
    const response = await callApi(api.app, 'GET', '/v1/admin/enrollments?status=everything', { token: api.adminToken });
    expect(response.status).toBe(400);
  });

  it('is approved with the right fingerprint and asks for a reconcile', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const response = await approve(api.app, api.adminToken, id, { fingerprint: keys.vm.fingerprint });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id, status: 'approved', host: { name: 'web1', status: 'active', appendOnly: true } });
    expect(api.reconcileCalls).toHaveLength(1);
  });

  it('shows the repository URL, the SSH host keys and known_hosts lines once approved', async () => {
    const id = await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const response = await callApi(api.app, 'GET', `/v1/enrollments/${id}`);
    expect(response.body).toEqual({
      status: 'approved',
      hostname: 'web1',
      fingerprint: keys.vm.fingerprint,
      repoUrl: 'ssh://web1@backup.example.test:2022/./repo',
      sshHostKeys: TEST_SSH_HOST_KEYS,
      knownHosts: TEST_SSH_HOST_KEYS.map((key) => `[backup.example.test]:2022 ${key.type} ${key.key}`),
    });
  });

  it('serves known_hosts as text once approved', async () => {
    const id = await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const response = await callApi(api.app, 'GET', `/v1/enrollments/${id}/known_hosts`);
    expect(response.status).toBe(200);
    expect(response.text).toBe(`${TEST_SSH_HOST_KEYS.map((key) => `[backup.example.test]:2022 ${key.type} ${key.key}`).join('\n')}\n`);
  });

  it('serves no known_hosts before approval', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    expect((await callApi(api.app, 'GET', `/v1/enrollments/${id}/known_hosts`)).status).toBe(404);
  });

  it('refuses an approval naming another fingerprint', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const response = await approve(api.app, api.adminToken, id, { fingerprint: keys.other.fingerprint });
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('FINGERPRINT_MISMATCH');
    expect(api.reconcileCalls).toHaveLength(0);
    expect((await callApi(api.app, 'GET', `/v1/enrollments/${id}`)).body.status).toBe('pending');
  });

  it('refuses an approval without a fingerprint', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const response = await approve(api.app, api.adminToken, id, {});
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('BAD_REQUEST');
  });

  it('is denied with a reason', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    const response = await callApi(api.app, 'POST', `/v1/admin/enrollments/${id}/deny`, {
      token: api.adminToken,
      body: { reason: 'unknown VM' },
    });
    expect(response.status).toBe(200);
    expect((await callApi(api.app, 'GET', `/v1/enrollments/${id}`)).body).toEqual({
      status: 'denied',
      hostname: 'web1',
      fingerprint: keys.vm.fingerprint,
    });
  });

  it('cannot be approved once denied', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    await callApi(api.app, 'POST', `/v1/admin/enrollments/${id}/deny`, { token: api.adminToken, body: {} });
    const response = await approve(api.app, api.adminToken, id, { fingerprint: keys.vm.fingerprint });
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('ENROLLMENT_NOT_PENDING');
  });

  it('cannot be approved after it expired (8 days later)', async () => {
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.vm);
    api.clock.advance(8 * 86_400_000);
    const response = await approve(api.app, api.adminToken, id, { fingerprint: keys.vm.fingerprint });
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('ENROLLMENT_NOT_PENDING');
    expect((await callApi(api.app, 'GET', `/v1/enrollments/${id}`)).body.status).toBe('expired');
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken })).body.hosts).toEqual([]);
  });
});

describe('an enrollment token', () => {
  it('cannot be replayed once used', async () => {
    const token = await mintToken(api.app, api.adminToken);
    expect((await enroll(api.app, token, 'web1', keys.vm)).status).toBe(202);
    const replay = await enroll(api.app, token, 'web2', keys.other);
    expect(replay.status).toBe(409);
    expect(replay.body.error).toBe('TOKEN_USED');
  });

  it('wins for exactly one of 50 concurrent enrollments', async () => {
    const token = await mintToken(api.app, api.adminToken);
    const responses = await Promise.all(Array.from({ length: 50 }, (_, index) => enroll(api.app, token, `web${index}`, keys.vm)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 202)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(49);
    expect(responses.filter((response) => response.status === 409).every((response) => response.body.error === 'TOKEN_USED')).toBe(true);
    const listed = await callApi(api.app, 'GET', '/v1/admin/enrollments', { token: api.adminToken });
    expect(listed.body.enrollments).toHaveLength(1);
  });

  it('is refused once revoked', async () => {
    const minted = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
    const revoked = await callApi(api.app, 'DELETE', `/v1/admin/tokens/${minted.body.jti}`, { token: api.adminToken });
    expect(revoked.status).toBe(200);
    const response = await enroll(api.app, minted.body.token, 'web1', keys.vm);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('TOKEN_REVOKED');
  });

  it('cannot be revoked once used', async () => {
    const minted = await callApi(api.app, 'POST', '/v1/admin/tokens', { token: api.adminToken, body: {} });
    await enroll(api.app, minted.body.token, 'web1', keys.vm);
    const response = await callApi(api.app, 'DELETE', `/v1/admin/tokens/${minted.body.jti}`, { token: api.adminToken });
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('TOKEN_USED');
  });

  it('is refused after it expired', async () => {
    const token = await mintToken(api.app, api.adminToken, { ttl: '15m' });
    api.clock.advance(17 * 60_000);
    const response = await enroll(api.app, token, 'web1', keys.vm);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('TOKEN_EXPIRED');
  });

  it('bound to a host is refused for another name', async () => {
    const token = await mintToken(api.app, api.adminToken, { host: 'web1' });
    const response = await enroll(api.app, token, 'web2', keys.vm);
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('TOKEN_HOST_MISMATCH');
  });

  it('bound to a host names the host when the VM sends no name', async () => {
    const token = await mintToken(api.app, api.adminToken, { host: 'web1' });
    const response = await enroll(api.app, token, undefined, keys.vm);
    expect(response.status).toBe(202);
    expect(response.body.hostname).toBe('web1');
  });

  it('with allowFrom is refused from another address, and stays unspent for its own host', async () => {
    const token = await mintToken(api.app, api.adminToken, { host: 'web1', allowFrom: '192.0.2.0/24' });
    const elsewhere = await enroll(api.app, token, 'web1', keys.vm, '198.51.100.7');
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.error).toBe('TOKEN_SOURCE_MISMATCH');
    const fromItsNetwork = await enroll(api.app, token, 'web1', keys.vm, '192.0.2.9');
    expect(fromItsNetwork.status).toBe(202);
  });

  it('with allowFrom is refused when the source address is unknown', async () => {
    const token = await mintToken(api.app, api.adminToken, { allowFrom: '192.0.2.0/24' });
    const response = await enroll(api.app, token, 'web1', keys.vm);
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('TOKEN_SOURCE_MISMATCH');
  });

  it('with an IPv6 allowFrom takes an address of its range', async () => {
    const token = await mintToken(api.app, api.adminToken, { allowFrom: '2001:db8::/32' });
    expect((await enroll(api.app, token, 'web1', keys.vm, '2001:db9::1')).body.error).toBe('TOKEN_SOURCE_MISMATCH');
    expect((await enroll(api.app, token, 'web1', keys.vm, '2001:db8::1')).status).toBe(202);
  });

  it('is required', async () => {
    const response = await callApi(api.app, 'POST', '/v1/enroll', { body: { hostname: 'web1', publicKey: keys.vm.publicKey } });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('UNAUTHORIZED');
  });

  it('is refused when it is garbage', async () => {
    const response = await enroll(api.app, 'not-a-token', 'web1', keys.vm);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('TOKEN_INVALID');
  });

  it('is refused when it is an admin token', async () => {
    const response = await enroll(api.app, api.adminToken, 'web1', keys.vm);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('TOKEN_INVALID');
  });
});

describe('hostile enrollment input', () => {
  it.each(['../x', 'root', 'sshd', 'Web1', 'wéb1', 'a'.repeat(64), 'web1;id', '$(id)', 'web 1'])(
    'refuses the host name %j',
    async (hostname) => {
      const token = await mintToken(api.app, api.adminToken);
      const response = await enroll(api.app, token, hostname, keys.vm);
      expect(response.status).toBe(400);
      expect(['INVALID_HOST_NAME', 'BAD_REQUEST']).toContain(response.body.error);
    },
  );

  it.each([
    ['an option before the key', (key: GeneratedSshKey) => `command="/bin/sh" ${key.publicKey}`],
    ['an embedded newline', (key: GeneratedSshKey) => `${key.type} ${key.base64}\nssh-ed25519 ${key.base64}`],
    ['two keys', (key: GeneratedSshKey) => `${key.publicKey} ${key.publicKey}`],
    [
      'trailing data in the blob',
      (key: GeneratedSshKey) =>
        `${key.type} ${Buffer.concat([Buffer.from(key.base64, 'base64'), Buffer.from([0, 0, 0, 1, 65])]).toString('base64')}`,
    ],
    ['bad base64', (key: GeneratedSshKey) => `${key.type} ${key.base64.slice(0, -2)}!!`],
  ])('refuses a key with %s and leaves the token unspent', async (_label, hostile) => {
    const token = await mintToken(api.app, api.adminToken);
    const response = await callApi(api.app, 'POST', '/v1/enroll', { token, body: { hostname: 'web1', publicKey: hostile(keys.vm) } });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('INVALID_PUBLIC_KEY');
    expect((await enroll(api.app, token, 'web1', keys.vm)).status).toBe(202);
  });

  it('refuses a certificate', async () => {
    const caKeys = createKeyDirectory();
    try {
      caKeys.generate('ca', 'ed25519');
      caKeys.generate('client', 'ed25519');
      const certificate = caKeys.certify('ca', 'client', 'web1');
      const token = await mintToken(api.app, api.adminToken);
      const response = await callApi(api.app, 'POST', '/v1/enroll', { token, body: { hostname: 'web1', publicKey: certificate } });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('INVALID_PUBLIC_KEY');
    } finally {
      caKeys.remove();
    }
  });

  it('refuses an RSA key of 2048 bits', async () => {
    const rsa = keys.generate('rsa2048', 'rsa2048');
    const token = await mintToken(api.app, api.adminToken);
    const response = await enroll(api.app, token, 'web1', rsa);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('INVALID_PUBLIC_KEY');
  });
});

describe('enrolling a name that a host already has', () => {
  it('shows the enrollment as a conflict', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.other);
    const response = await callApi(api.app, 'GET', '/v1/admin/enrollments?status=pending', { token: api.adminToken });
    expect(response.body.enrollments).toMatchObject([{ id, hostname: 'web1', fingerprint: keys.other.fingerprint, conflict: true }]);
  });

  it('is refused at approval without replaceKey, and the host keeps its key', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.other);
    const response = await approve(api.app, api.adminToken, id, { fingerprint: keys.other.fingerprint });
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('HOST_EXISTS');
    const host = await callApi(api.app, 'GET', '/v1/admin/hosts/web1', { token: api.adminToken });
    expect(host.body.fingerprint).toBe(keys.vm.fingerprint);
  });

  it('replaces the key and keeps the UID when approved with replaceKey', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const before = await callApi(api.app, 'GET', '/v1/admin/hosts/web1', { token: api.adminToken });
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.other);
    const response = await approve(api.app, api.adminToken, id, { fingerprint: keys.other.fingerprint, replaceKey: true });
    expect(response.status).toBe(200);
    expect(response.body.host).toMatchObject({ name: 'web1', uid: before.body.uid, fingerprint: keys.other.fingerprint });
  });

  it('stops giving the old enrollment the account details once the key is replaced', async () => {
    const oldId = await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.other);
    await approve(api.app, api.adminToken, id, { fingerprint: keys.other.fingerprint, replaceKey: true });
    const response = await callApi(api.app, 'GET', `/v1/enrollments/${oldId}`);
    expect(response.body).toEqual({ status: 'approved', hostname: 'web1', fingerprint: keys.vm.fingerprint });
  });
});

describe('enrollment ids', () => {
  it('answer 404 when unknown', async () => {
    const response = await callApi(api.app, 'GET', '/v1/enrollments/AAAAAAAAAAAAAAAAAAAAAA');
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('NOT_FOUND');
  });

  it('cannot be guessed fast: misses are rate-limited', async () => {
    const limited = makeTestApp(api.context, { limits: { lookups: createRateLimiter({ limit: 3, windowMs: 60_000 }) } });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) {
      statuses.push((await callApi(limited, 'GET', `/v1/enrollments/${String(attempt).padStart(22, 'A')}`)).status);
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
  });

  it('say in Retry-After when the limit lifts', async () => {
    const limited = makeTestApp(api.context, { limits: { lookups: createRateLimiter({ limit: 1, windowMs: 60_000 }) } });
    await callApi(limited, 'GET', '/v1/enrollments/AAAAAAAAAAAAAAAAAAAAAA');
    const response = await callApi(limited, 'GET', '/v1/enrollments/AAAAAAAAAAAAAAAAAAAAAA');
    expect([response.status, response.body.error, response.headers.get('retry-after')]).toEqual([429, 'RATE_LIMITED', '60']);
  });

  it('count malformed ids as misses too', async () => {
    const limited = makeTestApp(api.context, { limits: { lookups: createRateLimiter({ limit: 2, windowMs: 60_000 }) } });
    const statuses: number[] = [];
    for (const id of ['short', 'x'.repeat(40), `${'A'.repeat(21)}*`, 'AAAAAAAAAAAAAAAAAAAAAA']) {
      statuses.push((await callApi(limited, 'GET', `/v1/enrollments/${id}`)).status);
    }
    expect(statuses).toEqual([404, 404, 429, 429]);
  });

  it('are counted by the server clock: the limit lifts once its window has passed', async () => {
    const limited = makeTestApp(api.context, { limits: { lookups: createRateLimiter({ limit: 1, windowMs: 60_000 }) } });
    const miss = () => callApi(limited, 'GET', '/v1/enrollments/AAAAAAAAAAAAAAAAAAAAAA').then((response) => response.status);
    const before = [await miss(), await miss()];
    api.clock.advance(60_000);
    expect([...before, await miss()]).toEqual([404, 429, 404]);
  });
});

describe('enrollment ids on the known_hosts route', () => {
  it('cannot be guessed fast either: misses are rate-limited', async () => {
    const limited = makeTestApp(api.context, { limits: { lookups: createRateLimiter({ limit: 2, windowMs: 60_000 }) } });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt += 1) {
      statuses.push((await callApi(limited, 'GET', `/v1/enrollments/${String(attempt).padStart(22, 'A')}/known_hosts`)).status);
    }
    expect(statuses).toEqual([404, 404, 429, 429]);
  });
});

describe('enrollment attempts', () => {
  it('are rate-limited per address', async () => {
    const limited = makeTestApp(api.context, { limits: { enrollAttempts: createRateLimiter({ limit: 2, windowMs: 60_000 }) } });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      statuses.push((await enroll(limited, 'not-a-token', 'web1', keys.vm)).status);
    }
    expect(statuses).toEqual([401, 401, 429]);
  });

  it('say in Retry-After when the limit lifts', async () => {
    const limited = makeTestApp(api.context, { limits: { enrollAttempts: createRateLimiter({ limit: 1, windowMs: 60_000 }) } });
    await enroll(limited, 'not-a-token', 'web1', keys.vm);
    api.clock.advance(45_000);
    const response = await enroll(limited, 'not-a-token', 'web1', keys.vm);
    expect([response.status, response.body.error, response.headers.get('retry-after')]).toEqual([429, 'RATE_LIMITED', '15']);
  });
});
