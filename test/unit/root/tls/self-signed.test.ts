import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkCertificatePair } from '../../../../src/root/tls/certificate-check.js';
import { createSelfSignedCertificate } from '../../../../src/root/tls/self-signed.js';

const NOW = new Date('2030-06-01T12:00:00Z');

describe('createSelfSignedCertificate', () => {
  it('names a DNS host in the subject alternative name, and nothing else', async () => {
    const { certificatePem } = await createSelfSignedCertificate('backup.example.test', NOW);
    const certificate = new X509Certificate(certificatePem);
    expect(certificate.subjectAltName).toBe('DNS:backup.example.test');
    expect(certificate.checkHost('backup.example.test')).toBe('backup.example.test');
    expect(certificate.checkHost('other.example.test')).toBeUndefined();
  });

  it('names an IPv4 address as an IP address entry', async () => {
    const { certificatePem } = await createSelfSignedCertificate('127.0.0.1', NOW);
    const certificate = new X509Certificate(certificatePem);
    expect(certificate.subjectAltName).toBe('IP Address:127.0.0.1');
    expect(certificate.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('names an IPv6 address as an IP address entry', async () => {
    const { certificatePem } = await createSelfSignedCertificate('::1', NOW);
    const certificate = new X509Certificate(certificatePem);
    expect(certificate.subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1');
    expect(certificate.checkIP('::1')).toBe('::1');
  });

  it('is a server certificate signed by its own key, not a CA', async () => {
    const { certificatePem } = await createSelfSignedCertificate('backup.example.test', NOW);
    const certificate = new X509Certificate(certificatePem);
    expect(certificate.ca).toBe(false);
    expect(certificate.issuer).toBe(certificate.subject);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('comes with the private key of the certificate', async () => {
    const { certificatePem, keyPem } = await createSelfSignedCertificate('backup.example.test', NOW);
    const certificateKey = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
    const ownKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    expect(ownKey.equals(certificateKey)).toBe(true);
  });

  it('is valid from a minute before now for ten years, so the pin in tokens and scripts lasts', async () => {
    const { certificatePem } = await createSelfSignedCertificate('backup.example.test', NOW);
    const certificate = new X509Certificate(certificatePem);
    expect(new Date(certificate.validFrom).toISOString()).toBe('2030-06-01T11:59:00.000Z');
    expect(new Date(certificate.validTo).toISOString()).toBe(new Date(NOW.getTime() + 3650 * 86_400_000).toISOString());
  });

  it('passes the start-up check for its own host', async () => {
    const { certificatePem, keyPem } = await createSelfSignedCertificate('127.0.0.1', NOW);
    expect(() => checkCertificatePair(certificatePem, keyPem, '127.0.0.1', NOW)).not.toThrow();
  });

  it('gets a new key and serial number each time', async () => {
    const first = new X509Certificate((await createSelfSignedCertificate('127.0.0.1', NOW)).certificatePem);
    const second = new X509Certificate((await createSelfSignedCertificate('127.0.0.1', NOW)).certificatePem);
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(second.publicKey.equals(first.publicKey)).toBe(false);
  });
});
