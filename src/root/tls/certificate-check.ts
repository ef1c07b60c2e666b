import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { AppError } from '../../errors.js';

/**
 * Refuses a certificate the API should not serve: unparsable, expired or not
 * yet valid, not for the public URL's host, or not matching its key. Each is a
 * clear start-up error rather than a handshake failure on every VM.
 */
export function checkCertificatePair(certificatePem: string, keyPem: string, hostName: string, now: Date): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    throw new AppError('CONFIG_INVALID', 'the TLS certificate is not a PEM certificate');
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch {
    throw new AppError('CONFIG_INVALID', 'the TLS key is not a PEM private key');
  }
  if (new Date(certificate.validTo).getTime() <= now.getTime()) {
    throw new AppError('CONFIG_INVALID', `the TLS certificate expired on ${new Date(certificate.validTo).toISOString()}`);
  }
  if (new Date(certificate.validFrom).getTime() > now.getTime()) {
    throw new AppError('CONFIG_INVALID', `the TLS certificate is not valid before ${new Date(certificate.validFrom).toISOString()}`);
  }
  const matchesHost = isIP(hostName) ? certificate.checkIP(hostName) !== undefined : certificate.checkHost(hostName) !== undefined;
  if (!matchesHost) {
    throw new AppError('CONFIG_INVALID', `the TLS certificate is not valid for ${hostName} (the host of BORG_SERVER_PUBLIC_URL)`);
  }
  const certificateKey = certificate.publicKey.export({ type: 'spki', format: 'der' });
  const ownKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!certificateKey.equals(ownKey)) {
    throw new AppError('CONFIG_INVALID', 'the TLS key does not belong to the TLS certificate');
  }
}
