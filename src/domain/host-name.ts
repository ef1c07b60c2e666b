import { AppError } from '../errors.js';

/** Host names become Unix user names and directory names, so the rule is strict. */
export const HOST_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

/**
 * Names a host may not take: accounts that Debian, OpenSSH and this server use,
 * and names that read as privileged to a person.
 */
const RESERVED_NAMES = new Set([
  'root',
  'daemon',
  'bin',
  'sys',
  'sync',
  'games',
  'man',
  'lp',
  'mail',
  'news',
  'uucp',
  'proxy',
  'www-data',
  'backup',
  'backups',
  'list',
  'irc',
  'gnats',
  'nobody',
  'nogroup',
  'sshd',
  'messagebus',
  'tss',
  'polkitd',
  'postfix',
  'ntp',
  'operator',
  'admin',
  'administrator',
  'adm',
  'wheel',
  'sudo',
  'staff',
  'users',
  'shadow',
  'utmp',
  'tty',
  'disk',
  'kmem',
  'dialout',
  'audio',
  'video',
  'plugdev',
  'netdev',
  'input',
  'render',
  'kvm',
  'crontab',
  'docker',
  'podman',
  'borg',
  'borg-api',
  'borg-hosts',
  'secure-borg-server',
  'node',
  'halt',
  'shutdown',
  'ftp',
  'git',
  'postgres',
  'mysql',
  'redis',
  'systemd',
  'lost-found',
  'repo',
  'state',
]);

export function isValidHostName(name: string): boolean {
  return HOST_NAME_PATTERN.test(name) && !RESERVED_NAMES.has(name) && !name.startsWith('systemd-');
}

export function parseHostName(name: unknown): string {
  if (typeof name !== 'string' || !HOST_NAME_PATTERN.test(name)) {
    throw new AppError(
      'INVALID_HOST_NAME',
      'host name must be 1-31 characters: a lower-case letter, then lower-case letters, digits or hyphens',
    );
  }
  if (!isValidHostName(name)) {
    throw new AppError('INVALID_HOST_NAME', `host name "${name}" is reserved`);
  }
  return name;
}
