import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { renderAccountFiles } from '../../src/root/accounts/account-files.js';
import { createServerAccounts, type ServerAccounts } from '../../src/root/accounts/server-accounts.js';

/** Accounts the server did not make: root, sshd, and an admin's own login in the host UID range. */
export const SYSTEM_PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin',
  'alice:x:54321:54321:Alice Admin:/home/alice:/bin/bash',
  '',
].join('\n');

/**
 * Writes ETC_DIR/passwd with the system accounts above (or `systemPasswd`)
 * and these hosts' accounts as reconcile writes them (homes in `backupDir`).
 */
export function writeAccountDatabase(
  etcDir: string,
  backupDir: string,
  hosts: { name: string; uid: number }[],
  systemPasswd = SYSTEM_PASSWD,
): void {
  mkdirSync(etcDir, { recursive: true });
  const accounts = hosts.map((host) => ({ ...host, home: `${backupDir}/${host.name}` }));
  writeFileSync(join(etcDir, 'passwd'), renderAccountFiles({ passwd: systemPasswd, group: '', shadow: '' }, accounts).passwd);
}

/** The guard root uses, reading ETC_DIR/passwd, with a silent logger. */
export function serverAccountsIn(etcDir: string, backupDir: string): ServerAccounts {
  return createServerAccounts({ backupDir, etcDir, logger: pino({ level: 'silent' }) });
}
