import { createPublicKey } from 'node:crypto';
import { base64url, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLOCK_TOLERANCE_SECONDS,
  hashToken,
  MAX_TOKEN_TTL_SECONDS,
  mintEnrollmentToken,
  newTokenId,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_TYPE,
  verifyEnrollmentToken,
} from '../../../../src/api/tokens/enrollment-token.js';
import type { SigningKey } from '../../../../src/api/tokens/signing-key.js';
import type { AppError } from '../../../../src/errors.js';
import { createTestSigningKey } from '../../../support/test-context.js';

const NOW = new Date('2026-03-02T10:00:00.000Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const JTI = 'AAAAAAAAAAAAAAAAAAAAAA';

let key: SigningKey;
let otherKey: SigningKey;

beforeAll(async () => {
  key = await createTestSigningKey();
  otherKey = await createTestSigningKey();
});

async function codeOf(action: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await action();
  } catch (error) {
    return (error as AppError).code;
  }
  return undefined;
}

function verifyAt(token: string, secondsFromNow: number) {
  return verifyEnrollmentToken(token, { keys: [key], now: new Date(NOW.getTime() + secondsFromNow * 1000) });
}

function standardClaims(): JWTPayload {
  return { iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, jti: JTI, iat: NOW_SECONDS, nbf: NOW_SECONDS, exp: NOW_SECONDS + 3600 };
}

/** Signs any claims and header with the real key, so that only the rule under test is broken. */
function signWith(claims: JWTPayload, header: Record<string, unknown> = {}, signer: SigningKey = key): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: key.kid, ...header }).sign(signer.privateKey);
}

function without(claim: string): JWTPayload {
  const { [claim]: _removed, ...rest } = standardClaims();
  return rest;
}

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

describe('mintEnrollmentToken', () => {
  it('makes a token that verifies with every claim the server set', async () => {
    const token = await mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: 900, hostName: 'web1' });
    expect(await verifyAt(token, 0)).toEqual({
      jti: JTI,
      issuedAt: NOW,
      expiresAt: new Date(NOW.getTime() + 900_000),
      hostName: 'web1',
    });
  });

  it('makes a token without a host name when none is given', async () => {
    const token = await mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: 900, hostName: null });
    expect((await verifyAt(token, 0)).hostName).toBeNull();
  });

  it('writes typ enroll+jwt, the key id and EdDSA into the header', async () => {
    const token = await mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: 900, hostName: null });
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[0] ?? '')));
    expect(header).toEqual({ alg: 'EdDSA', typ: 'enroll+jwt', kid: key.kid });
  });

  it('writes iss, aud, jti, iat, nbf and exp into the payload', async () => {
    const token = await mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: 900, hostName: null });
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[1] ?? '')));
    expect(payload).toEqual({ ...standardClaims(), exp: NOW_SECONDS + 900 });
  });

  it('mints a token of exactly the 7-day cap', async () => {
    const token = await mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: MAX_TOKEN_TTL_SECONDS, hostName: null });
    expect((await verifyAt(token, MAX_TOKEN_TTL_SECONDS - 1)).jti).toBe(JTI);
  });

  it('refuses a lifetime beyond the 7-day cap', async () => {
    expect(
      await codeOf(() => mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: MAX_TOKEN_TTL_SECONDS + 1, hostName: null })),
    ).toBe('INVALID_DURATION');
  });

  it('refuses a lifetime of zero', async () => {
    expect(await codeOf(() => mintEnrollmentToken(key, { jti: JTI, now: NOW, ttlSeconds: 0, hostName: null }))).toBe('INVALID_DURATION');
  });
});

describe('verifyEnrollmentToken', () => {
  it('accepts a token signed by an older key still in the list', async () => {
    const token = await signWith(standardClaims(), { kid: otherKey.kid }, otherKey);
    const claims = await verifyEnrollmentToken(token, { keys: [key, otherKey], now: NOW });
    expect(claims.jti).toBe(JTI);
  });

  it('refuses an expired token', async () => {
    const token = await signWith(standardClaims());
    expect(await codeOf(() => verifyAt(token, 3600 + CLOCK_TOLERANCE_SECONDS + 1))).toBe('TOKEN_EXPIRED');
  });

  it('accepts a token expired by clock skew just inside the 60 s tolerance', async () => {
    const token = await signWith(standardClaims());
    expect((await verifyAt(token, 3600 + CLOCK_TOLERANCE_SECONDS - 1)).jti).toBe(JTI);
  });

  it('refuses a token expired by clock skew just outside the 60 s tolerance', async () => {
    const token = await signWith(standardClaims());
    expect(await codeOf(() => verifyAt(token, 3600 + CLOCK_TOLERANCE_SECONDS))).toBe('TOKEN_EXPIRED');
  });

  it('refuses a token that is not valid yet', async () => {
    const token = await signWith({ ...standardClaims(), nbf: NOW_SECONDS + 600 });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_NOT_YET_VALID');
  });

  it('accepts a token issued ahead of our clock by just inside the 60 s tolerance', async () => {
    const token = await signWith(standardClaims());
    expect((await verifyAt(token, -CLOCK_TOLERANCE_SECONDS)).jti).toBe(JTI);
  });

  it('refuses a token issued ahead of our clock by just outside the 60 s tolerance', async () => {
    const token = await signWith(standardClaims());
    expect(await codeOf(() => verifyAt(token, -CLOCK_TOLERANCE_SECONDS - 1))).toBe('TOKEN_NOT_YET_VALID');
  });

  it('uses a tolerance of 60 seconds', () => {
    expect(CLOCK_TOLERANCE_SECONDS).toBe(60);
  });

  it('refuses a token of another typ', async () => {
    const token = await signWith(standardClaims(), { typ: 'JWT' });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token without typ', async () => {
    const token = await new SignJWT(standardClaims()).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).sign(key.privateKey);
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token for another audience', async () => {
    const token = await signWith({ ...standardClaims(), aud: 'secure-borg-server/admin' });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token from another issuer', async () => {
    const token = await signWith({ ...standardClaims(), iss: 'someone-else' });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it.each(['exp', 'jti', 'nbf', 'iat', 'iss', 'aud'])('refuses a token without %s', async (claim) => {
    const token = await signWith(without(claim));
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it.each(['exp', 'nbf', 'iat'])('refuses a token whose %s is not a number', async (claim) => {
    const token = await signWith({ ...standardClaims(), [claim]: String(NOW_SECONDS) });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token that claims a lifetime beyond the 7-day cap', async () => {
    const token = await signWith({ ...standardClaims(), exp: NOW_SECONDS + MAX_TOKEN_TTL_SECONDS + 1 });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('accepts a token that claims exactly the 7-day cap', async () => {
    const token = await signWith({ ...standardClaims(), exp: NOW_SECONDS + MAX_TOKEN_TTL_SECONDS });
    expect((await verifyAt(token, 0)).jti).toBe(JTI);
  });

  it('refuses a token issued more than 7 days ago, whatever its exp says', async () => {
    const issuedAt = NOW_SECONDS - MAX_TOKEN_TTL_SECONDS - CLOCK_TOLERANCE_SECONDS - 1;
    const token = await signWith({ ...standardClaims(), iat: issuedAt, nbf: issuedAt, exp: NOW_SECONDS + 3600 });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_EXPIRED');
  });

  it('refuses a token whose nbf is before its iat', async () => {
    const token = await signWith({ ...standardClaims(), nbf: NOW_SECONDS - 3600 });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token with a malformed jti', async () => {
    const token = await signWith({ ...standardClaims(), jti: 'short' });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token whose sub is not a string', async () => {
    const token = await signWith({ ...standardClaims(), sub: 42 as unknown as string });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses alg none', async () => {
    const token = `${encodeJson({ alg: 'none', typ: TOKEN_TYPE, kid: key.kid })}.${encodeJson(standardClaims())}.`;
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it.each([
    ['the raw public key bytes', () => base64url.decode(String(key.publicJwk.x))],
    ['the public JWK as JSON', () => new TextEncoder().encode(JSON.stringify(key.publicJwk))],
    [
      'the public key as PEM',
      () =>
        new TextEncoder().encode(
          createPublicKey({ key: key.publicJwk as never, format: 'jwk' })
            .export({ type: 'spki', format: 'pem' })
            .toString(),
        ),
    ],
  ])('refuses HS256 signed with %s', async (_label, secret) => {
    const token = await new SignJWT(standardClaims()).setProtectedHeader({ alg: 'HS256', typ: TOKEN_TYPE, kid: key.kid }).sign(secret());
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token signed by another Ed25519 key under our key id', async () => {
    const token = await signWith(standardClaims(), {}, otherKey);
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token with a tampered payload', async () => {
    const token = await signWith({ ...standardClaims(), sub: 'web1' });
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${encodeJson({ ...standardClaims(), sub: 'db1' })}.${signature}`;
    expect(await codeOf(() => verifyAt(tampered, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token with a tampered signature', async () => {
    const token = await signWith(standardClaims());
    const flipped = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BA' : 'AA'}`;
    expect(await codeOf(() => verifyAt(flipped, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token with an unknown kid', async () => {
    const token = await signWith(standardClaims(), { kid: 'unknown-key-id' });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token without a kid', async () => {
    const token = await new SignJWT(standardClaims()).setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE }).sign(key.privateKey);
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it('refuses a token longer than 4096 characters', async () => {
    const token = await signWith({ ...standardClaims(), padding: 'x'.repeat(4096) });
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });

  it.each(['', 'garbage', 'a.b.c', 'bsa_AAAAAAAAAAAA_BBBB'])('refuses the non-token %j', async (token) => {
    expect(await codeOf(() => verifyAt(token, 0))).toBe('TOKEN_INVALID');
  });
});

describe('hashToken', () => {
  it('is the hex SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('newTokenId', () => {
  it('is 128 random bits in base64url', () => {
    const ids = new Set(Array.from({ length: 100 }, newTokenId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
