import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, rmSync } from 'node:fs';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Queryable } from '../../db/connection.js';
import { signingKeys } from '../../db/schema.js';
import { syncDirectory, writeNewFileSynced } from '../../durable-files.js';
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
 * use. The key is written aside, fsynced, and linked into place: a link fails
 * when the name exists, so two processes starting at once end up with the same
 * key, and a crash or power cut never leaves a half-written key behind (an
 * empty one, from a version that did not sync, is made again: it signed
 * nothing). Only the API user runs this (the API, and borgctl once it became
 * that user): the key is the API's, in its directory; a link put there is
 * refused all the same.
 */
export async function loadOrCreateSigningKey(directory: string): Promise<SigningKey> {
  const path = `${directory}/${SIGNING_KEY_FILE}`;
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const existing = readRegularFileIfExists(path);
  if (existing !== null && existing.trim() !== '') return importSigningKey(JSON.parse(existing) as JWK);
  if (existing !== null) rmSync(path, { force: true });
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeNewFileSynced(temporary, `${JSON.stringify(privateJwk)}\n`);
    linkSync(temporary, path);
    syncDirectory(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temporary, { force: true });
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
