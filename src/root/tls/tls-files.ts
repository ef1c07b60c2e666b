import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { type Config, statePaths } from '../../config.js';
import { publicKeyPin } from '../../identity/public-key-pin.js';
import type { Logger } from '../../log.js';
import { readRegularFileIfExists } from '../../untrusted-files.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { ensureDirectory } from '../files/directories.js';
import { checkCertificatePair } from './certificate-check.js';
import { createSelfSignedCertificate } from './self-signed.js';

/** The public URL's host, without the brackets URL keeps around an IPv6 address. */
export function publicHostName(config: Config): string {
  return new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, '');
}

/** The API user's group: it may read the pair it serves, never write it. */
export interface ApiGroup {
  gid: number;
}

/**
 * Puts the certificate the API serves into root's tls/ directory (root:API
 * group, 0750; the key 0640, the certificate 0644): the given files
 * (checked first: an expired or mismatched pair stops the start with a clear
 * error), or a self-signed pair generated once and kept, like the SSH host
 * keys. The API reads the pair; it cannot write tls/, so root never reads a
 * file the API user could have replaced.
 */
export async function prepareTlsFiles(config: Config, apiGroup: ApiGroup, now: Date, logger: Logger): Promise<void> {
  const paths = statePaths(config.stateDir);
  ensureDirectory(paths.tlsDir, { uid: 0, gid: apiGroup.gid, mode: 0o750 });
  const hostName = publicHostName(config);
  if (config.tlsCertificatePath && config.tlsKeyPath) {
    copyGivenPair(config.tlsCertificatePath, config.tlsKeyPath, hostName, apiGroup, paths, now);
    return;
  }
  const existing = readRegularFileIfExists(paths.tlsCertificate);
  const existingKey = readRegularFileIfExists(paths.tlsKey);
  if (existing && existingKey) {
    try {
      checkCertificatePair(existing, existingKey, hostName, now);
      return;
    } catch (error) {
      logger.warn({ reason: (error as Error).message }, 'generating a new self-signed TLS certificate: its pin changes');
    }
  }
  const generated = await createSelfSignedCertificate(hostName, now);
  writeServedPair(paths, generated.certificatePem, generated.keyPem, apiGroup);
  logger.info({ host: hostName, pin: publicKeyPin(generated.certificatePem) }, 'generated a self-signed TLS certificate');
}

function copyGivenPair(
  certificatePath: string,
  keyPath: string,
  hostName: string,
  apiGroup: ApiGroup,
  paths: ReturnType<typeof statePaths>,
  now: Date,
): boolean {
  const certificatePem = readFileSync(certificatePath, 'utf8');
  const keyPem = readFileSync(keyPath, 'utf8');
  checkCertificatePair(certificatePem, keyPem, hostName, now);
  const isServed = readRegularFileIfExists(paths.tlsCertificate) === certificatePem && readRegularFileIfExists(paths.tlsKey) === keyPem;
  if (isServed) return false;
  writeServedPair(paths, certificatePem, keyPem, apiGroup);
  return true;
}

/** The key first: the API reloads when the certificate changes, and then finds the new key beside it. */
export function writeServedPair(paths: ReturnType<typeof statePaths>, certificatePem: string, keyPem: string, apiGroup: ApiGroup): void {
  writeFileAtomically(paths.tlsKey, keyPem, { uid: 0, gid: apiGroup.gid, mode: 0o640 });
  writeFileAtomically(paths.tlsCertificate, certificatePem, { uid: 0, gid: apiGroup.gid, mode: 0o644 });
}

/**
 * Re-reads BORG_SERVER_TLS_CERT/KEY when they change (an ACME client renewed
 * them); a bad new pair is logged and the served one kept.
 */
export function watchGivenTlsFiles(config: Config, apiGroup: ApiGroup, logger: Logger): () => void {
  const { tlsCertificatePath, tlsKeyPath } = config;
  if (!tlsCertificatePath || !tlsKeyPath) return () => {};
  const paths = statePaths(config.stateDir);
  const hostName = publicHostName(config);
  const onChange = () => {
    try {
      if (copyGivenPair(tlsCertificatePath, tlsKeyPath, hostName, apiGroup, paths, new Date())) {
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
