import { X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { type Config, statePaths } from '../config.js';
import type { Logger } from '../log.js';
import { writeFileAtomically } from '../provision/atomic-file.js';
import { ensureDirectory } from '../provision/directories.js';
import { type Account, asAccount } from '../provision/effective-account.js';
import { readRegularFileIfExists } from '../provision/untrusted-files.js';
import { checkCertificatePair } from './certificate-check.js';
import { publicKeyPin } from './public-key-pin.js';
import { createSelfSignedCertificate } from './self-signed.js';

export interface TlsIdentity {
  /** curl's --pinnedpubkey value for the served certificate. */
  pin: string;
  /** A self-signed certificate: curl needs -k, and the pin is the only trust anchor. */
  isSelfSigned: boolean;
}

/** The public URL's host, without the brackets URL keeps around an IPv6 address. */
function publicHostName(config: Config): string {
  return new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, '');
}

type Owner = Account;

/**
 * Puts the certificate the API serves into the state directory, readable by
 * the API user only: the given files (checked first: an expired or mismatched
 * pair stops the start with a clear error), or a self-signed pair generated
 * once and kept, like the SSH host keys. db/tls is inside the API user's
 * directory: root works there only as that user, and follows no link.
 */
export async function prepareTlsFiles(config: Config, owner: Owner, now: Date, logger: Logger): Promise<void> {
  const paths = statePaths(config.stateDir);
  asAccount(owner, () => ensureDirectory(paths.tlsDir, { ...owner, mode: 0o700 }));
  const hostName = publicHostName(config);
  if (config.tlsCertificatePath && config.tlsKeyPath) {
    copyGivenPair(config.tlsCertificatePath, config.tlsKeyPath, hostName, owner, paths, now);
    return;
  }
  const [existing, existingKey] = asAccount(owner, () => [
    readRegularFileIfExists(paths.tlsCertificate),
    readRegularFileIfExists(paths.tlsKey),
  ]);
  if (existing && existingKey) {
    try {
      checkCertificatePair(existing, existingKey, hostName, now);
      return;
    } catch (error) {
      logger.warn({ reason: (error as Error).message }, 'generating a new self-signed TLS certificate: its pin changes');
    }
  }
  const generated = await createSelfSignedCertificate(hostName, now);
  writeServedPair(paths, generated.certificatePem, generated.keyPem, owner);
  logger.info({ host: hostName, pin: publicKeyPin(generated.certificatePem) }, 'generated a self-signed TLS certificate');
}

function copyGivenPair(
  certificatePath: string,
  keyPath: string,
  hostName: string,
  owner: Owner,
  paths: ReturnType<typeof statePaths>,
  now: Date,
): boolean {
  const certificatePem = readFileSync(certificatePath, 'utf8');
  const keyPem = readFileSync(keyPath, 'utf8');
  checkCertificatePair(certificatePem, keyPem, hostName, now);
  const isServed = asAccount(
    owner,
    () => readRegularFileIfExists(paths.tlsCertificate) === certificatePem && readRegularFileIfExists(paths.tlsKey) === keyPem,
  );
  if (isServed) return false;
  writeServedPair(paths, certificatePem, keyPem, owner);
  return true;
}

/** Written by the API user itself: the files are its own from the start, and no swapped name reaches root's. */
function writeServedPair(paths: ReturnType<typeof statePaths>, certificatePem: string, keyPem: string, owner: Owner): void {
  asAccount(owner, () => {
    writeFileAtomically(paths.tlsKey, keyPem, { ...owner, mode: 0o600 });
    writeFileAtomically(paths.tlsCertificate, certificatePem, { ...owner, mode: 0o600 });
  });
}

/**
 * Re-reads BORG_SERVER_TLS_CERT/KEY when they change (an ACME client renewed
 * them); a bad new pair is logged and the served one kept.
 */
export function watchGivenTlsFiles(config: Config, owner: Owner, logger: Logger): () => void {
  const { tlsCertificatePath, tlsKeyPath } = config;
  if (!tlsCertificatePath || !tlsKeyPath) return () => {};
  const paths = statePaths(config.stateDir);
  const hostName = publicHostName(config);
  const onChange = () => {
    try {
      if (copyGivenPair(tlsCertificatePath, tlsKeyPath, hostName, owner, paths, new Date())) {
        logger.info({ pin: publicKeyPin(readFileSync(tlsCertificatePath, 'utf8')) }, 'TLS certificate renewed');
      }
    } catch (error) {
      logger.error({ reason: (error as Error).message }, 'the new TLS certificate was not taken; serving the old one');
    }
  };
  for (const path of [tlsCertificatePath, tlsKeyPath]) watchFile(path, { interval: 5000 }, onChange);
  return () => {
    for (const path of [tlsCertificatePath, tlsKeyPath]) unwatchFile(path, onChange);
  };
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
