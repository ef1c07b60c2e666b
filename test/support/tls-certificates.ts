import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/**
 * Certificates for tests, made here rather than with the product's own
 * generator: expired ones, ones for another host, renewals that keep a key.
 */

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface TestKeys {
  keys: CryptoKeyPair;
  keyPem: string;
}

export interface TestCertificate extends TestKeys {
  certificatePem: string;
  /** Upper-case hexadecimal, as node:crypto's X509Certificate reports it. */
  serialNumber: string;
}

export interface CertificateOptions {
  /** The name in the subject alternative name: an IP address or a DNS name. */
  hostName: string;
  /** Reuse a key (a renewal); a new one otherwise. */
  keys?: TestKeys;
  notBefore?: Date;
  notAfter?: Date;
  /** Hexadecimal, without a leading 8-f digit (it must stay positive). */
  serialNumber?: string;
  /** Signed by this CA instead of by its own key. */
  issuer?: TestCertificate;
}

export async function createTestKeys(): Promise<TestKeys> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey));
  const lines = pkcs8.toString('base64').match(/.{1,64}/g) ?? [];
  return { keys, keyPem: `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n` };
}

/** A server certificate, self-signed unless an issuer is given; valid from an hour ago for 30 days unless told otherwise. */
export async function createTestCertificate(options: CertificateOptions): Promise<TestCertificate> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const keys = options.keys ?? (await createTestKeys());
  const now = Date.now();
  const validity = {
    serialNumber: options.serialNumber ?? `1${Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex')}`,
    notBefore: options.notBefore ?? new Date(now - 3_600_000),
    notAfter: options.notAfter ?? new Date(now + 30 * DAY_MS),
    signingAlgorithm: ALGORITHM,
  };
  const extensions = [
    new x509.SubjectAlternativeNameExtension([{ type: isIP(options.hostName) ? 'ip' : 'dns', value: options.hostName }]),
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ];
  const certificate = options.issuer
    ? await x509.X509CertificateGenerator.create({
        ...validity,
        subject: `CN=${options.hostName}`,
        issuer: new x509.X509Certificate(options.issuer.certificatePem).subject,
        publicKey: keys.keys.publicKey,
        signingKey: options.issuer.keys.privateKey,
        extensions,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...validity, name: `CN=${options.hostName}`, keys: keys.keys, extensions });
  const certificatePem = `${certificate.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
  return { ...keys, certificatePem, serialNumber: new X509Certificate(certificatePem).serialNumber };
}

/** A certificate authority to issue test certificates with (what a VM would trust for a public certificate). */
export async function createTestAuthority(name = 'Test CA'): Promise<TestCertificate> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const keys = await createTestKeys();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 365 * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys: keys.keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const certificatePem = `${certificate.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
  return { ...keys, certificatePem, serialNumber: new X509Certificate(certificatePem).serialNumber };
}

/**
 * curl's `sha256//BASE64` for a certificate's key, computed here from the DER
 * SubjectPublicKeyInfo, as `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256 | base64` would.
 */
export function pinOfCertificate(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

/** The same pin from the key pair itself, without a certificate in between. */
export async function pinOfKeys(keys: TestKeys): Promise<string> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.keys.publicKey as unknown as webcrypto.CryptoKey));
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

export const DAYS_MS = DAY_MS;
