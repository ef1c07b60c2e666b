import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { findAccount } from '../root/accounts/account-files.js';

/**
 * Makes this process the API user for good (groups, then group, then user:
 * no way back to root), before an admin command opens the API's database:
 * root never opens a file the API user can write. Linux also makes a process
 * that changed its user undumpable, so the API user cannot trace it. A
 * process that is not root runs as it is (the API user itself, or tests).
 */
export function becomeApiUser(config: Config): void {
  if (process.geteuid?.() !== 0) return;
  const account = findAccount(readFileSync('/etc/passwd', 'utf8'), config.apiUser);
  if (!account) throw new AppError('CONFIG_INVALID', `the API user "${config.apiUser}" does not exist`);
  process.setgroups?.([]);
  process.setgid?.(account.gid);
  process.setuid?.(account.uid);
  if (process.geteuid?.() !== account.uid || process.getegid?.() !== account.gid) {
    throw new AppError('CONFIG_INVALID', `could not become the API user "${config.apiUser}"`);
  }
}
