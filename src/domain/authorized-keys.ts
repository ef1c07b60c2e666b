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
  checkKeyLineHost(host, backupDir);
  const key = parseSshPublicKey(`${host.keyType} ${host.keyBase64}`);
  const options = ['restrict', `command="${borgServeArguments(host, backupDir).join(' ')}"`];
  if (host.allowFrom !== null) options.push(`from="${parseAllowFrom(host.allowFrom)}"`);
  return `${options.join(',')} ${key.type} ${key.base64} ${host.name}\n`;
}

function checkKeyLineHost(host: KeyLineHost, backupDir: string): void {
  if (!isValidHostName(host.name)) throw new Error(`refusing to render a key line for host name ${JSON.stringify(host.name)}`);
  if (!/^\/[A-Za-z0-9._/-]*$/.test(backupDir) || backupDir.includes('..')) {
    throw new Error(`refusing to render a key line for backup directory ${JSON.stringify(backupDir)}`);
  }
  if (host.quotaBytes !== null && !(Number.isSafeInteger(host.quotaBytes) && host.quotaBytes >= MIN_QUOTA_BYTES)) {
    throw new Error(`refusing to render a key line with storage quota ${JSON.stringify(host.quotaBytes)}`);
  }
}

/** What a maintainer's key line is made of: its name, key and required range. */
export interface KeyLineMaintainer {
  name: string;
  keyType: SshKeyType;
  keyBase64: string;
  allowFrom: string;
}

/**
 * The variable a maintainer's key line sets for its session (sshd's
 * environment=, allowed for this name alone by PermitUserEnvironment): how
 * root tells a maintainer's session from the host's own in /proc.
 */
export const SESSION_KEY_VARIABLE = 'BORG_SERVER_KEY';

/** The comment that marks a maintainer's line in a host's key file (and in sshd's log of the key it accepted). */
export function maintainerKeyComment(name: string): string {
  return `maintainer:${name}`;
}

/**
 * A maintainer's lines in hosts' key files: full access to each host's
 * repository alone (`--restrict-to-repository`, never `--append-only`; the
 * host's quota kept), only from its range. The maintainer's values are checked
 * once here (a maintainer without a range gets no line), each host's for each
 * line, as for the host's own line.
 */
export function maintainerKeyLineRenderer(maintainer: KeyLineMaintainer): (host: KeyLineHost, backupDir: string) => string {
  if (!isValidHostName(maintainer.name)) throw new Error(`refusing to render a key line for maintainer ${JSON.stringify(maintainer.name)}`);
  if (typeof maintainer.allowFrom !== 'string' || maintainer.allowFrom === '') {
    throw new Error(`refusing to render maintainer ${maintainer.name}'s key line without a from= range`);
  }
  const key = parseSshPublicKey(`${maintainer.keyType} ${maintainer.keyBase64}`);
  const from = `from="${parseAllowFrom(maintainer.allowFrom)}"`;
  const environment = `environment="${SESSION_KEY_VARIABLE}=${maintainerKeyComment(maintainer.name)}"`;
  const keyAndComment = `${key.type} ${key.base64} ${maintainerKeyComment(maintainer.name)}`;
  return (host, backupDir) => {
    checkKeyLineHost(host, backupDir);
    const serve = borgServeArguments({ ...host, appendOnly: false }, backupDir);
    return `restrict,command="${serve.join(' ')}",${environment},${from} ${keyAndComment}\n`;
  };
}
