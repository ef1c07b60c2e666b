import { mkdirSync, writeFileSync } from 'node:fs';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Queryable } from '../../db/connection.js';
import { signingKeys } from '../../db/schema.js';
import { readRegularFileIfExists } from '../../untrusted-files.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** The key's file in the signing directory (a state copy holds it: src/api/state-copy/). */
export const SIGNING_KEY_FILE = 'enrollment-signing-key.jwk';

/**
 * Loads the Ed25519 key that signs enrollment tokens, generating it on first
 * use. The file is created exclusively (0600), so two processes starting at
 * once end up with the same key. Only the API user runs this (the API, and
 * borgctl once it became that user): the key is the API's, in its directory;
 * a link put there is refused all the same.
 */
export async function loadOrCreateSigningKey(directory: string): Promise<SigningKey> {
  const path = `${directory}/${SIGNING_KEY_FILE}`;
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const existing = readRegularFileIfExists(path);
  if (existing !== null) return importSigningKey(JSON.parse(existing) as JWK);
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const privateJwk = await exportJWK(privateKey);
  try {
    writeFileSync(path, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stored = readRegularFileIfExists(path);
  if (stored === null) throw new Error(`${path} vanished right after it was written`);
  return importSigningKey(JSON.parse(stored) as JWK);
}

async function importSigningKey(privateJwk: JWK): Promise<SigningKey> {
  const { d: _secret, ...publicJwk } = privateJwk;
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateKey = (await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey;
  const publicKey = (await importJWK({ ...publicJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey;
  return { kid, privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' } };
}

/** Publishes the key's public half (the signing_keys table) in the API's database, once. */
export function recordSigningKey(db: Queryable, key: SigningKey, at: Date): void {
  db.insert(signingKeys)
    .values({ kid: key.kid, publicJwk: JSON.stringify(key.publicJwk), createdAt: at })
    .onConflictDoNothing()
    .run();
}
