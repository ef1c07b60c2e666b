import { isValidHostName } from './host-name.js';
import { parseAllowFrom } from './networks.js';
import { MIN_QUOTA_BYTES } from './sizes.js';
import { parseSshPublicKey, type SshKeyType } from './ssh-public-key.js';

export interface KeyLineHost {
  name: string;
  keyType: SshKeyType;
  keyBase64: string;
  appendOnly: boolean;
  quotaBytes: number | null;
  allowFrom: string | null;
}

export function repositoryPath(backupDir: string, name: string): string {
  return `${backupDir}/${name}/repo`;
}

/** The forced command as argument list; rendered into the key line below. */
export function borgServeArguments(host: KeyLineHost, backupDir: string): string[] {
  return [
    'borg',
    'serve',
    '--restrict-to-repository',
    repositoryPath(backupDir, host.name),
    ...(host.appendOnly ? ['--append-only'] : []),
    ...(host.quotaBytes === null ? [] : ['--storage-quota', String(host.quotaBytes)]),
  ];
}

/**
 * One authorized_keys line. Every value is re-validated here, even though the
 * callers validated it already: this string is what stands between a VM and a
 * shell, so it must never carry a quote, a comma or a newline from its input.
 */
export function renderAuthorizedKeysLine(host: KeyLineHost, backupDir: string): string {
  if (!isValidHostName(host.name)) throw new Error(`refusing to render a key line for host name ${JSON.stringify(host.name)}`);
  if (!/^\/[A-Za-z0-9._/-]*$/.test(backupDir) || backupDir.includes('..')) {
    throw new Error(`refusing to render a key line for backup directory ${JSON.stringify(backupDir)}`);
  }
  if (host.quotaBytes !== null && !(Number.isSafeInteger(host.quotaBytes) && host.quotaBytes >= MIN_QUOTA_BYTES)) {
    throw new Error(`refusing to render a key line with storage quota ${JSON.stringify(host.quotaBytes)}`);
  }
  const key = parseSshPublicKey(`${host.keyType} ${host.keyBase64}`);
  const options = ['restrict', `command="${borgServeArguments(host, backupDir).join(' ')}"`];
  if (host.allowFrom !== null) options.push(`from="${parseAllowFrom(host.allowFrom)}"`);
  return `${options.join(',')} ${key.type} ${key.base64} ${host.name}\n`;
}
