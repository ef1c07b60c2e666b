import { createHash } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { AppError } from '../../errors.js';
import { randomCommandLineId } from '../random-id.js';
import type { SigningKey } from './signing-key.js';

export const TOKEN_TYPE = 'enroll+jwt';
export const TOKEN_ISSUER = 'secure-borg-server';
export const TOKEN_AUDIENCE = 'secure-borg-server/enroll';
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
export const MAX_TOKEN_TTL_SECONDS = 7 * 86400;
export const CLOCK_TOLERANCE_SECONDS = 60;
const REQUIRED_CLAIMS = ['iss', 'aud', 'jti', 'iat', 'nbf', 'exp'];

export interface EnrollmentClaims {
  jti: string;
  issuedAt: Date;
  expiresAt: Date;
  /** The host name the token is bound to, if any. */
  hostName: string | null;
}

export function newTokenId(): string {
  return randomCommandLineId();
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function mintEnrollmentToken(
  key: SigningKey,
  options: { jti: string; now: Date; ttlSeconds: number; hostName: string | null },
): Promise<string> {
  if (options.ttlSeconds <= 0 || options.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new AppError('INVALID_DURATION', `token lifetime must be between 1 second and ${MAX_TOKEN_TTL_SECONDS / 86400} days`);
  }
  const issuedAt = Math.floor(options.now.getTime() / 1000);
  const jwt = new SignJWT(options.hostName ? { sub: options.hostName } : {})
    .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: key.kid })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setJti(options.jti)
    .setIssuedAt(issuedAt)
    .setNotBefore(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds);
  return jwt.sign(key.privateKey);
}

/**
 * Signature first, then the claims: jose checks typ, iss, aud, presence of
 * every required claim, nbf, exp and the age cap; the lifetime the token
 * claims for itself is capped here too.
 */
export async function verifyEnrollmentToken(token: string, options: { keys: SigningKey[]; now: Date }): Promise<EnrollmentClaims> {
  if (token.length > 4096) throw new AppError('TOKEN_INVALID', 'enrollment token is malformed');
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(
      token,
      async (header) => {
        const key = options.keys.find((candidate) => candidate.kid === header.kid);
        if (!key) throw new errors.JWSSignatureVerificationFailed('unknown signing key');
        return key.publicKey;
      },
      {
        algorithms: ['EdDSA'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        typ: TOKEN_TYPE,
        requiredClaims: REQUIRED_CLAIMS,
        maxTokenAge: MAX_TOKEN_TTL_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: options.now,
      },
    ));
  } catch (error) {
    throw mapJoseError(error);
  }
  return checkClaims(payload);
}

function checkClaims(payload: Record<string, unknown>): EnrollmentClaims {
  const { jti, iat, exp, nbf, sub } = payload;
  if (typeof jti !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(jti)) {
    throw new AppError('TOKEN_INVALID', 'enrollment token has a malformed jti');
  }
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof nbf !== 'number') {
    throw new AppError('TOKEN_INVALID', 'enrollment token has malformed times');
  }
  if (exp - iat > MAX_TOKEN_TTL_SECONDS || nbf < iat) {
    throw new AppError('TOKEN_INVALID', 'enrollment token claims a lifetime beyond the server limit');
  }
  if (sub !== undefined && typeof sub !== 'string') throw new AppError('TOKEN_INVALID', 'enrollment token has a malformed sub');
  return {
    jti,
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
    hostName: sub ?? null,
  };
}

function mapJoseError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired) return new AppError('TOKEN_EXPIRED', 'enrollment token has expired');
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf' && error.reason === 'check_failed') {
    return new AppError('TOKEN_NOT_YET_VALID', 'enrollment token is not valid yet');
  }
  if (error instanceof errors.JOSEError) return new AppError('TOKEN_INVALID', 'enrollment token is invalid');
  return new AppError('TOKEN_INVALID', 'enrollment token is invalid');
}
