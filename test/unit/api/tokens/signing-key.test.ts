import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, jwtVerify, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateSigningKey } from '../../../../src/api/tokens/signing-key.js';

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-signing-test-'));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('loadOrCreateSigningKey', () => {
  it('writes the private key to a 0600 file in a 0700 directory', async () => {
    const keyDirectory = join(directory, 'signing');
    await loadOrCreateSigningKey(keyDirectory);
    expect(statSync(keyDirectory).mode & 0o777).toBe(0o700);
    expect(statSync(join(keyDirectory, 'enrollment-signing-key.jwk')).mode & 0o777).toBe(0o600);
  });

  it('makes the key again over an empty file a crash left (it signed nothing), and leaves no temporary file', async () => {
    writeFileSync(join(directory, 'enrollment-signing-key.jwk'), '', { mode: 0o600 });
    const key = await loadOrCreateSigningKey(directory);
    expect(JSON.parse(readFileSync(join(directory, 'enrollment-signing-key.jwk'), 'utf8'))).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect((await loadOrCreateSigningKey(directory)).kid).toBe(key.kid);
    expect(readdirSync(directory)).toEqual(['enrollment-signing-key.jwk']);
  });

  it('returns the same key on the next start', async () => {
    const first = await loadOrCreateSigningKey(directory);
    const second = await loadOrCreateSigningKey(directory);
    expect(second.kid).toBe(first.kid);
    expect(second.publicJwk).toEqual(first.publicJwk);
  });

  it('gives two processes starting at once the same key', async () => {
    const [first, second] = await Promise.all([loadOrCreateSigningKey(directory), loadOrCreateSigningKey(directory)]);
    expect(second.kid).toBe(first.kid);
  });

  it('makes an Ed25519 key whose kid is the JWK thumbprint', async () => {
    const key = await loadOrCreateSigningKey(directory);
    const { kid: _kid, alg: _alg, use: _use, ...bare } = key.publicJwk;
    expect(key.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(key.kid).toBe(await calculateJwkThumbprint(bare, 'sha256'));
  });

  it('leaves the private part out of the public JWK', async () => {
    const key = await loadOrCreateSigningKey(directory);
    const stored = JSON.parse(readFileSync(join(directory, 'enrollment-signing-key.jwk'), 'utf8'));
    expect(stored.d).toEqual(expect.any(String));
    expect(key.publicJwk).not.toHaveProperty('d');
    expect(JSON.stringify(key.publicJwk)).not.toContain(stored.d);
  });

  it('signs with the private key what the public key verifies', async () => {
    const key = await loadOrCreateSigningKey(directory);
    const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'EdDSA' }).sign(key.privateKey);
    expect((await jwtVerify(token, key.publicKey)).payload.a).toBe(1);
  });

  it('refuses to start on a corrupt key file', async () => {
    await loadOrCreateSigningKey(directory);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(directory, 'enrollment-signing-key.jwk'), 'not json');
    await expect(loadOrCreateSigningKey(directory)).rejects.toThrow();
  });
});
