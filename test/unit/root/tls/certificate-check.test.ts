import { describe, expect, it } from 'vitest';
import type { AppError } from '../../../../src/errors.js';
import { checkCertificatePair } from '../../../../src/root/tls/certificate-check.js';
import { createTestCertificate, createTestKeys, DAYS_MS } from '../../../support/tls-certificates.js';

const NOW = new Date('2030-06-01T12:00:00Z');

/** The error's code and message, or undefined when the pair is accepted. */
function refusal(action: () => void): { code: string; message: string } | undefined {
  try {
    action();
  } catch (error) {
    return { code: (error as AppError).code, message: (error as AppError).message };
  }
  return undefined;
}

async function pairFor(hostName: string, validity: { notBefore?: Date; notAfter?: Date } = {}) {
  return createTestCertificate({
    hostName,
    notBefore: validity.notBefore ?? new Date(NOW.getTime() - DAYS_MS),
    notAfter: validity.notAfter ?? new Date(NOW.getTime() + 90 * DAYS_MS),
  });
}

describe('checkCertificatePair', () => {
  it('accepts a current pair for the public URL’s DNS name', async () => {
    const pair = await pairFor('backup.example.test');
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, 'backup.example.test', NOW))).toBeUndefined();
  });

  it('accepts a current pair for the public URL’s IP address', async () => {
    const pair = await pairFor('127.0.0.1');
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, '127.0.0.1', NOW))).toBeUndefined();
  });

  it('refuses an expired certificate, naming the date', async () => {
    const pair = await pairFor('127.0.0.1', { notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2030-05-01T00:00:00Z') });
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, '127.0.0.1', NOW))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'the TLS certificate expired on 2030-05-01T00:00:00.000Z',
    });
  });

  it('refuses a certificate at the very second it expires', async () => {
    const pair = await pairFor('127.0.0.1', { notAfter: NOW });
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, '127.0.0.1', NOW))?.message).toMatch(/expired/);
  });

  it('refuses a certificate that is not valid yet', async () => {
    const pair = await pairFor('127.0.0.1', { notBefore: new Date(NOW.getTime() + DAYS_MS) });
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, '127.0.0.1', NOW))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'the TLS certificate is not valid before 2030-06-02T12:00:00.000Z',
    });
  });

  it('refuses a certificate for another DNS name', async () => {
    const pair = await pairFor('other.example.test');
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, 'backup.example.test', NOW))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'the TLS certificate is not valid for backup.example.test (the host of BORG_SERVER_PUBLIC_URL)',
    });
  });

  it('refuses a certificate for another IP address', async () => {
    const pair = await pairFor('127.0.0.2');
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, '127.0.0.1', NOW))?.message).toMatch(
      /not valid for 127\.0\.0\.1/,
    );
  });

  it('refuses a certificate whose DNS name only looks like the IP address', async () => {
    // An IP address is matched against IP entries only, never a DNS entry spelling it.
    const pair = await pairFor('backup.example.test');
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.keyPem, '127.0.0.1', NOW))?.code).toBe('CONFIG_INVALID');
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const pair = await pairFor('127.0.0.1');
    const otherKey = await createTestKeys();
    expect(refusal(() => checkCertificatePair(pair.certificatePem, otherKey.keyPem, '127.0.0.1', NOW))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'the TLS key does not belong to the TLS certificate',
    });
  });

  it('refuses a certificate file that is not a PEM certificate', async () => {
    const pair = await pairFor('127.0.0.1');
    expect(refusal(() => checkCertificatePair(pair.keyPem, pair.keyPem, '127.0.0.1', NOW))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'the TLS certificate is not a PEM certificate',
    });
  });

  it('refuses a key file that is not a PEM private key', async () => {
    const pair = await pairFor('127.0.0.1');
    expect(refusal(() => checkCertificatePair(pair.certificatePem, pair.certificatePem, '127.0.0.1', NOW))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'the TLS key is not a PEM private key',
    });
  });
});
