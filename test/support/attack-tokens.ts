import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { base64url, calculateJwkThumbprint, importJWK, type JWK, SignJWT } from 'jose';
import type { Sandbox } from './sandbox.js';
import { REPOSITORY_ROOT, SANDBOX_API_USER, SANDBOX_STATE_DIR } from './sandbox.js';

/**
 * Enrollment tokens the real server never minted, for the attack tests:
 * signed with the server's own key read from the sandbox (a token the server
 * would have minted at another time), or forged (alg none, HS256 with the
 * public key, another key). `plantToken` records one in the server's database
 * the way minting does (jti and hash only), so that the token check itself,
 * not the "unknown token" lookup, is what a test exercises.
 */

const TOKEN_TYPE = 'enroll+jwt';
const ISSUER = 'secure-borg-server';
const AUDIENCE = 'secure-borg-server/enroll';

export interface ServerSigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function readServerSigningKey(sandbox: Sandbox): Promise<ServerSigningKey> {
  const privateJwk = JSON.parse(await sandbox.readFile(`${SANDBOX_STATE_DIR}/db/signing/enrollment-signing-key.jwk`)) as JWK;
  const { d: _secret, ...publicJwk } = privateJwk;
  return { kid: await calculateJwkThumbprint(publicJwk, 'sha256'), privateJwk, publicJwk };
}

export interface TokenClaims {
  jti: string;
  iat?: number;
  nbf?: number;
  exp?: number;
  iss?: string;
  aud?: string;
  sub?: string;
}

/** Default claims of a token minted at `nowSeconds` for `ttlSeconds`. */
export function claimsAt(jti: string, nowSeconds: number, ttlSeconds = 3600): Required<Omit<TokenClaims, 'sub'>> {
  return { jti, iat: nowSeconds, nbf: nowSeconds, exp: nowSeconds + ttlSeconds, iss: ISSUER, aud: AUDIENCE };
}

/** Signed with the server's Ed25519 key, with any header and claims. */
export async function signWithServerKey(
  key: ServerSigningKey,
  claims: TokenClaims,
  header: { typ?: string; kid?: string } = {},
): Promise<string> {
  const privateKey = await importJWK({ ...key.privateJwk, alg: 'EdDSA' }, 'EdDSA');
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'EdDSA', typ: header.typ ?? TOKEN_TYPE, kid: header.kid ?? key.kid })
    .sign(privateKey);
}

/** Signed with another Ed25519 key, under the server's kid. */
export async function signWithOtherKey(kid: string, claims: TokenClaims): Promise<string> {
  const { privateKey } = generateKeyPairSync('ed25519');
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid }).sign(privateKey);
}

function encodePart(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

/** `alg: none`: header and claims, no signature. */
export function unsignedToken(kid: string, claims: TokenClaims): string {
  return `${encodePart({ alg: 'none', typ: TOKEN_TYPE, kid })}.${encodePart(claims)}.`;
}

/** HS256 with the server's public key as the HMAC secret (the classic algorithm confusion), in the forms a verifier might use. */
export async function hs256WithPublicKey(key: ServerSigningKey, claims: TokenClaims): Promise<{ form: string; token: string }[]> {
  const raw = Buffer.from(base64url.decode(key.publicJwk.x as string));
  const spkiPem = createPublicKey({ key: key.publicJwk as never, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  const secrets: { form: string; secret: Uint8Array }[] = [
    { form: 'raw public key', secret: raw },
    { form: 'public key PEM', secret: Buffer.from(spkiPem) },
    { form: 'public JWK JSON', secret: Buffer.from(JSON.stringify(key.publicJwk)) },
    { form: 'public key x (base64url text)', secret: Buffer.from(key.publicJwk.x as string) },
  ];
  return Promise.all(
    secrets.map(async ({ form, secret }) => ({
      form,
      token: await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: TOKEN_TYPE, kid: key.kid }).sign(secret),
    })),
  );
}

/** The same token with its claims part replaced (the signature no longer matches). */
export function withTamperedClaims(token: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [header = '', claims = '', signature = ''] = token.split('.');
  const decoded = JSON.parse(Buffer.from(base64url.decode(claims)).toString('utf8')) as Record<string, unknown>;
  return `${header}.${encodePart(change(decoded))}.${signature}`;
}

export interface PlantedToken {
  jti: string;
  hostName?: string | null;
  issuedAt: Date;
  expiresAt: Date;
  kid: string;
  autoApprove?: boolean;
}

const PLANT_SCRIPT = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 5000');
const row = JSON.parse(process.argv[3]);
db.prepare(\`insert into enrollment_tokens
  (jti, token_hash, kid, host_name, quota_bytes, append_only, allow_from, auto_approve, status, created_by, issued_at, expires_at)
  values (@jti, @tokenHash, @kid, @hostName, null, 1, null, @autoApprove, 'issued', 'admin:attack-test', @issuedAt, @expiresAt)\`).run(row);
db.close();
`;

/**
 * Records the token in the server's database as minting does (its jti and
 * SHA-256 hash), as the API user that owns the database.
 */
export async function plantToken(sandbox: Sandbox, token: string, planted: PlantedToken): Promise<void> {
  const row = {
    jti: planted.jti,
    tokenHash: createHash('sha256').update(token).digest('hex'),
    kid: planted.kid,
    hostName: planted.hostName ?? null,
    autoApprove: planted.autoApprove ? 1 : 0,
    issuedAt: planted.issuedAt.getTime(),
    expiresAt: planted.expiresAt.getTime(),
  };
  await sandbox.exec([
    'setpriv',
    `--reuid=${SANDBOX_API_USER}`,
    `--regid=${SANDBOX_API_USER}`,
    '--init-groups',
    '--',
    process.execPath,
    '-e',
    PLANT_SCRIPT,
    `${REPOSITORY_ROOT}node_modules/better-sqlite3`,
    `${SANDBOX_STATE_DIR}/db/borg.db`,
    JSON.stringify(row),
  ]);
}
