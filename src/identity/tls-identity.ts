import { X509Certificate } from 'node:crypto';
import { type Config, statePaths } from '../config.js';
import { readRegularFileIfExists } from '../untrusted-files.js';
import { publicKeyPin } from './public-key-pin.js';

export interface TlsIdentity {
  /** curl's --pinnedpubkey value for the served certificate. */
  pin: string;
  /** A self-signed certificate: curl needs -k, and the pin is the only trust anchor. */
  isSelfSigned: boolean;
}

/** The served certificate's pin, or null for plain HTTP. */
export function readTlsIdentity(config: Config): TlsIdentity | null {
  if (!config.isHttps) return null;
  const certificatePem = readRegularFileIfExists(statePaths(config.stateDir).tlsCertificate);
  if (!certificatePem) return null;
  return { pin: publicKeyPin(certificatePem), isSelfSigned: isSelfSigned(certificatePem) };
}

/**
 * Read from the certificate, not from BORG_SERVER_TLS_CERT: the API process,
 * which mints the enroll commands, is not given that variable.
 */
function isSelfSigned(certificatePem: string): boolean {
  const certificate = new X509Certificate(certificatePem);
  // Not checkIssued: OpenSSL wants keyCertSign on an issuer, which a server certificate lacks.
  return certificate.issuer === certificate.subject && certificate.verify(certificate.publicKey);
}
