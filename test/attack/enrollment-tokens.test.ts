import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type HttpResponse, httpRequest } from '../support/attack-http.js';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import {
  claimsAt,
  hs256WithPublicKey,
  plantToken,
  readServerSigningKey,
  type ServerSigningKey,
  signWithOtherKey,
  signWithServerKey,
  type TokenClaims,
  unsignedToken,
  withTamperedClaims,
} from '../support/attack-tokens.js';
import { createKeyDirectory, type GeneratedSshKey, type KeyDirectory } from '../support/ssh-keys.js';

/**
 * Someone on the network with an enrollment token, or without a real one,
 * against the real server over HTTP. Tokens the server would have minted at
 * another time are signed with its key (read from the sandbox) and recorded in
 * its database as minting does, so each refusal below comes from the check
 * under test, not from "this token is unknown". Every attack comes from its
 * own loopback address: the server rate-limits enrollments per address.
 */

describe('enrollment tokens from the network', () => {
  const server = useAttackServer();
  const group = 'network: enrollment tokens';
  let keys: KeyDirectory;
  let vmKey: GeneratedSshKey;
  let signingKey: ServerSigningKey;
  let nextAddress = 10;

  beforeAll(async () => {
    keys = createKeyDirectory();
    vmKey = keys.generate('vm', 'ed25519');
    signingKey = await readServerSigningKey(server().sandbox);
  });

  afterAll(() => keys?.remove());

  /** A loopback address no other attack uses. */
  const freshAddress = () => `127.0.0.${nextAddress++}`;
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const newJti = () => randomBytes(16).toString('base64url');
  const newHostName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

  function enroll(token: string, hostname: string, from: string): Promise<HttpResponse> {
    return httpRequest(server().sandbox.baseUrl, 'POST', '/v1/enroll', {
      bearer: token,
      body: { hostname, publicKey: vmKey.publicKey },
      from,
    });
  }

  async function enrollmentsNamed(hostname: string): Promise<unknown[]> {
    const response = await server().api.request<{ enrollments: { hostname: string }[] }>('GET', '/v1/admin/enrollments', {
      bearer: server().api.adminToken,
    });
    return response.body.enrollments.filter((enrollment) => enrollment.hostname === hostname);
  }

  /** Records the token as the server would have, then uses it: the answer and whether an enrollment appeared. */
  async function plantAndEnroll(token: string, claims: TokenClaims, options: { expiresAt?: Date } = {}) {
    const hostname = newHostName('tok');
    const issuedAt = new Date((claims.iat ?? nowSeconds()) * 1000);
    const expiresAt = options.expiresAt ?? new Date((claims.exp ?? nowSeconds() + 3600) * 1000);
    await plantToken(server().sandbox, token, { jti: claims.jti, issuedAt, expiresAt, kid: signingKey.kid });
    const response = await enroll(token, hostname, freshAddress());
    return { response, enrolled: (await enrollmentsNamed(hostname)).length > 0 };
  }

  /** The common assertion: a 401 with this code, and no enrollment recorded. */
  function expectRefused(outcome: { response: HttpResponse; enrolled: boolean }, code: string): string {
    expect(outcome.response.status).toBe(401);
    expect(outcome.response.body.error).toBe(code);
    expect(outcome.enrolled).toBe(false);
    return `${outcome.response.status} ${outcome.response.body.error}`;
  }

  attack(group, 'replay a token that was already used', async () => {
    const { token } = await server().api.mintEnrollmentToken();
    const hostname = newHostName('replay');
    const from = freshAddress();
    const first = await enroll(token, hostname, from);
    const replay = await enroll(token, newHostName('replay'), from);
    const sameName = await enroll(token, hostname, from);
    expect(first.status).toBe(202);
    expect(replay.status).toBe(409);
    expect(replay.body.error).toBe('TOKEN_USED');
    expect(sameName.status).toBe(409);
    expect(await enrollmentsNamed(hostname)).toHaveLength(1);
    return `first use 202; replays 409 ${replay.body.error}`;
  });

  attack(group, 'use one token from 50 concurrent requests', async () => {
    const { token } = await server().api.mintEnrollmentToken();
    const from = freshAddress();
    const names = Array.from({ length: 50 }, (_, index) => `race${index}-${randomBytes(2).toString('hex')}`);
    const responses = await Promise.all(names.map((name) => enroll(token, name, from)));
    const winners = responses.filter((response) => response.status === 202);
    const losers = responses.filter((response) => response.status === 409 && response.body.error === 'TOKEN_USED');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(49);
    const recorded = (await Promise.all(names.map(enrollmentsNamed))).flat();
    expect(recorded).toHaveLength(1);
    return '1 × 202, 49 × 409 TOKEN_USED; exactly one enrollment recorded';
  });

  attack(group, 'use an expired token (expired an hour ago)', async () => {
    const now = nowSeconds();
    const claims = { ...claimsAt(newJti(), now - 7200), exp: now - 3600 };
    return expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, claims), claims), 'TOKEN_EXPIRED');
  });

  attack(group, 'use a token that is not yet valid (nbf in an hour)', async () => {
    const now = nowSeconds();
    const claims = { ...claimsAt(newJti(), now), nbf: now + 3600, exp: now + 7200 };
    return expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, claims), claims), 'TOKEN_NOT_YET_VALID');
  });

  attack(group, 'clock skew past exp: 90 s after expiry (tolerance 60 s; 30 s after is accepted)', async () => {
    const now = nowSeconds();
    const inside = { ...claimsAt(newJti(), now - 3630), exp: now - 30 };
    const accepted = await plantAndEnroll(await signWithServerKey(signingKey, inside), inside);
    expect(accepted.response.status).toBe(202);
    const outside = { ...claimsAt(newJti(), now - 3690), exp: now - 90 };
    return `30 s after exp: 202; 90 s after: ${expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, outside), outside), 'TOKEN_EXPIRED')}`;
  });

  attack(group, 'clock skew before nbf: minted 90 s in the future (tolerance 60 s; 30 s is accepted)', async () => {
    const now = nowSeconds();
    const inside = claimsAt(newJti(), now + 30);
    const accepted = await plantAndEnroll(await signWithServerKey(signingKey, inside), inside);
    expect(accepted.response.status).toBe(202);
    const outside = claimsAt(newJti(), now + 90);
    const outcome = await plantAndEnroll(await signWithServerKey(signingKey, outside), outside);
    expect(outcome.response.status).toBe(401);
    expect(['TOKEN_NOT_YET_VALID', 'TOKEN_INVALID']).toContain(outcome.response.body.error);
    expect(outcome.enrolled).toBe(false);
    return `30 s ahead: 202; 90 s ahead: 401 ${outcome.response.body.error}`;
  });

  attack(group, 'use a revoked token', async () => {
    const { token, jti } = await server().api.mintEnrollmentToken();
    const revoked = await server().api.request('DELETE', `/v1/admin/tokens/${jti}`, { bearer: server().api.adminToken });
    expect(revoked.status).toBe(200);
    const hostname = newHostName('revoked');
    const response = await enroll(token, hostname, freshAddress());
    return expectRefused({ response, enrolled: (await enrollmentsNamed(hostname)).length > 0 }, 'TOKEN_REVOKED');
  });

  attack(group, 'use a token minted for another host name', async () => {
    const boundName = newHostName('bound');
    const { token } = await server().api.mintEnrollmentToken({ host: boundName });
    const otherName = newHostName('other');
    const from = freshAddress();
    const response = await enroll(token, otherName, from);
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('TOKEN_HOST_MISMATCH');
    expect(await enrollmentsNamed(otherName)).toHaveLength(0);
    // The refusal did not spend it: the host it was minted for still enrolls.
    expect((await enroll(token, boundName, from)).status).toBe(202);
    return `403 TOKEN_HOST_MISMATCH for "${otherName}"; the token still works for "${boundName}"`;
  });

  attack(group, 'use a token bound to a source range (allowFrom) from an address outside it', async () => {
    const hostname = newHostName('ranged');
    const { token } = await server().api.mintEnrollmentToken({ host: hostname, allowFrom: '127.0.0.250/32' });
    const outside = freshAddress();
    const response = await enroll(token, hostname, outside);
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('TOKEN_SOURCE_MISMATCH');
    expect(await enrollmentsNamed(hostname)).toHaveLength(0);
    // The refusal did not spend it: from its own range the host still enrolls.
    expect((await enroll(token, hostname, '127.0.0.250')).status).toBe(202);
    return `403 TOKEN_SOURCE_MISMATCH from ${outside}; the token still works from 127.0.0.250`;
  });

  attack(group, 'tamper with a token (claims changed, signature kept)', async () => {
    const claims = claimsAt(newJti(), nowSeconds());
    const genuine = await signWithServerKey(signingKey, { ...claims, sub: 'tamper-a' });
    const tampered = withTamperedClaims(genuine, (decoded) => ({ ...decoded, sub: 'tamper-b', exp: (claims.exp as number) + 86400 }));
    const hostname = 'tamper-b';
    await plantToken(server().sandbox, tampered, {
      jti: claims.jti,
      hostName: hostname,
      issuedAt: new Date(claims.iat * 1000),
      expiresAt: new Date(claims.exp * 1000),
      kid: signingKey.kid,
    });
    const response = await enroll(tampered, hostname, freshAddress());
    return expectRefused({ response, enrolled: (await enrollmentsNamed(hostname)).length > 0 }, 'TOKEN_INVALID');
  });

  attack(group, 'sign a token with `alg: none`', async () => {
    const claims = claimsAt(newJti(), nowSeconds());
    return expectRefused(await plantAndEnroll(unsignedToken(signingKey.kid, claims), claims), 'TOKEN_INVALID');
  });

  attack(group, 'sign a token HS256 with the server’s public key as the secret', async () => {
    const results: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      // One jti per form: each forged token is recorded on its own.
      const claims = claimsAt(newJti(), nowSeconds());
      const forged = (await hs256WithPublicKey(signingKey, claims))[index];
      if (!forged) throw new Error('no such form');
      results.push(`${forged.form}: ${expectRefused(await plantAndEnroll(forged.token, claims), 'TOKEN_INVALID')}`);
    }
    return results.join('; ');
  });

  attack(group, 'sign a token with another Ed25519 key under the server’s kid', async () => {
    const claims = claimsAt(newJti(), nowSeconds());
    return expectRefused(await plantAndEnroll(await signWithOtherKey(signingKey.kid, claims), claims), 'TOKEN_INVALID');
  });

  attack(group, 'use a token of another typ (plain JWT)', async () => {
    const claims = claimsAt(newJti(), nowSeconds());
    return expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, claims, { typ: 'JWT' }), claims), 'TOKEN_INVALID');
  });

  attack(group, 'use a token for another audience', async () => {
    const claims = { ...claimsAt(newJti(), nowSeconds()), aud: 'secure-borg-server/admin' };
    return expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, claims), claims), 'TOKEN_INVALID');
  });

  attack(group, 'use a token from another issuer', async () => {
    const claims = { ...claimsAt(newJti(), nowSeconds()), iss: 'someone-else' };
    return expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, claims), claims), 'TOKEN_INVALID');
  });

  attack(group, 'use a token without exp', async () => {
    const { exp: _exp, ...claims } = claimsAt(newJti(), nowSeconds());
    return expectRefused(
      await plantAndEnroll(await signWithServerKey(signingKey, claims), claims, { expiresAt: new Date(Date.now() + 3600_000) }),
      'TOKEN_INVALID',
    );
  });

  attack(group, 'use a token whose lifetime is beyond the 7-day cap (30 days)', async () => {
    const claims = claimsAt(newJti(), nowSeconds(), 30 * 86400);
    return expectRefused(await plantAndEnroll(await signWithServerKey(signingKey, claims), claims), 'TOKEN_INVALID');
  });

  attack(group, 'use a correctly signed token the server never recorded', async () => {
    const claims = claimsAt(newJti(), nowSeconds());
    const hostname = newHostName('unrecorded');
    const response = await enroll(await signWithServerKey(signingKey, claims), hostname, freshAddress());
    return expectRefused({ response, enrolled: (await enrollmentsNamed(hostname)).length > 0 }, 'TOKEN_INVALID');
  });
});
