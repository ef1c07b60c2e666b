import { createHash, X509Certificate } from 'node:crypto';

/**
 * The pin curl's --pinnedpubkey takes: sha256// and the base64 SHA-256 of the
 * certificate's SubjectPublicKeyInfo. It names the key, not the certificate,
 * so a renewed certificate with the same key keeps the pin.
 */
export function publicKeyPin(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}
