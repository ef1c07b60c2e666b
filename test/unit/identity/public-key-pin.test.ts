import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publicKeyPin } from '../../../src/identity/public-key-pin.js';
import { createSelfSignedCertificate } from '../../../src/root/tls/self-signed.js';
import { createTestCertificate, createTestKeys, pinOfKeys } from '../../support/tls-certificates.js';

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-pin-test-'));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** The pin as curl's documentation computes it, with the openssl command line. */
async function opensslPin(certificatePem: string): Promise<string> {
  const path = join(directory, 'certificate.pem');
  writeFileSync(path, certificatePem);
  const result = await execa('sh', [
    '-c',
    'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64',
    'sh',
    path,
  ]);
  return `sha256//${result.stdout.trim()}`;
}

describe('publicKeyPin', () => {
  it('equals the pin openssl computes from the certificate of a generated self-signed pair', async () => {
    const { certificatePem } = await createSelfSignedCertificate('backup.example.test', new Date());
    expect(publicKeyPin(certificatePem)).toBe(await opensslPin(certificatePem));
  });

  it('equals the SHA-256 of the key pair’s SubjectPublicKeyInfo', async () => {
    const keys = await createTestKeys();
    const certificate = await createTestCertificate({ hostName: '127.0.0.1', keys });
    expect(publicKeyPin(certificate.certificatePem)).toBe(await pinOfKeys(keys));
    expect(publicKeyPin(certificate.certificatePem)).toMatch(/^sha256\/\/[A-Za-z0-9+/]{43}=$/);
  });

  it('stays the same for a renewed certificate with the same key', async () => {
    const keys = await createTestKeys();
    const first = await createTestCertificate({ hostName: '127.0.0.1', keys, serialNumber: '01' });
    const renewed = await createTestCertificate({ hostName: '127.0.0.1', keys, serialNumber: '02' });
    expect(renewed.certificatePem).not.toBe(first.certificatePem);
    expect(publicKeyPin(renewed.certificatePem)).toBe(publicKeyPin(first.certificatePem));
  });

  it('changes with the key', async () => {
    const first = await createTestCertificate({ hostName: '127.0.0.1' });
    const other = await createTestCertificate({ hostName: '127.0.0.1' });
    expect(publicKeyPin(other.certificatePem)).not.toBe(publicKeyPin(first.certificatePem));
  });
});
