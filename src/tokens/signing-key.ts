import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

const KEY_FILE = 'enrollment-signing-key.jwk';

/**
 * Loads the Ed25519 key that signs enrollment tokens, generating it on first
 * use. The file is created exclusively (0600), so two processes starting at
 * once end up with the same key.
 */
export async function loadOrCreateSigningKey(directory: string): Promise<SigningKey> {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const path = `${directory}/${KEY_FILE}`;
  try {
    return await importSigningKey(JSON.parse(readFileSync(path, 'utf8')) as JWK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const privateJwk = await exportJWK(privateKey);
  try {
    writeFileSync(path, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return importSigningKey(JSON.parse(readFileSync(path, 'utf8')) as JWK);
}

async function importSigningKey(privateJwk: JWK): Promise<SigningKey> {
  const { d: _secret, ...publicJwk } = privateJwk;
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateKey = (await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey;
  const publicKey = (await importJWK({ ...publicJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey;
  return { kid, privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' } };
}
