/**
 * /etc/passwd, /etc/group and /etc/shadow as text in, text out: the managed
 * host accounts are replaced as a block, every other line is kept as it was.
 * No process per user (the ancestor ran one useradd each, ~20 ms a user).
 */

import { HOSTS_GROUP_ID } from '../../domain/host-uid.js';

export { HOSTS_GROUP_ID };
export const HOST_ACCOUNT_MARKER = 'secure-borg-server host';
export const HOSTS_GROUP = 'borg-hosts';

export interface HostAccount {
  name: string;
  uid: number;
  home: string;
}

export interface AccountFiles {
  passwd: string;
  group: string;
  shadow: string;
}

export interface AccountConflict {
  name: string;
  reason: string;
}

type Entry = { readonly line: string; readonly fields: readonly string[] };

/**
 * The texts split last (a pass reads passwd, group and shadow, and renders them
 * anew): the same text is not split again by the next look or the next pass.
 */
const recentlySplit: { text: string; entries: readonly Entry[] }[] = [];
const RECENTLY_SPLIT_KEPT = 6;

/** Each non-empty line with its colon-separated fields, split once. */
function entries(text: string): readonly Entry[] {
  const known = recentlySplit.find((split) => split.text === text);
  if (known) return known.entries;
  const split = text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => Object.freeze({ line, fields: Object.freeze(line.split(':')) }));
  recentlySplit.unshift({ text, entries: Object.freeze(split) });
  recentlySplit.length = Math.min(recentlySplit.length, RECENTLY_SPLIT_KEPT);
  return split;
}

function managedNames(passwd: readonly Entry[]): Set<string> {
  return new Set(passwd.filter((entry) => entry.fields[4] === HOST_ACCOUNT_MARKER).map((entry) => entry.fields[0] ?? ''));
}

/**
 * Accounts that cannot be created because a system account already has the
 * name or the ID; the provisioner leaves those hosts out and reports them.
 */
export function findConflicts(files: AccountFiles, accounts: HostAccount[]): AccountConflict[] {
  const passwd = entries(files.passwd);
  const managed = managedNames(passwd);
  const foreignUsers = passwd.filter((entry) => entry.fields[4] !== HOST_ACCOUNT_MARKER);
  const foreignGroups = entries(files.group).filter((entry) => !managed.has(entry.fields[0] ?? '') && entry.fields[0] !== HOSTS_GROUP);
  const userNames = new Set(foreignUsers.map((entry) => entry.fields[0]));
  const userIds = new Set(foreignUsers.map((entry) => Number(entry.fields[2])));
  const groupNames = new Set(foreignGroups.map((entry) => entry.fields[0]));
  const groupIds = new Set(foreignGroups.map((entry) => Number(entry.fields[2])));
  return accounts.flatMap((account) => {
    if (userNames.has(account.name)) return [{ name: account.name, reason: 'a system account has this name' }];
    if (userIds.has(account.uid)) return [{ name: account.name, reason: `a system account has UID ${account.uid}` }];
    if (groupNames.has(account.name) || groupIds.has(account.uid))
      return [{ name: account.name, reason: 'a system group has this name or ID' }];
    return [];
  });
}

/** The account files with exactly `accounts` as the managed host accounts. */
export function renderAccountFiles(current: AccountFiles, accounts: HostAccount[]): AccountFiles {
  const passwd = entries(current.passwd);
  const previouslyManaged = managedNames(passwd);
  const isKept = (entry: Entry) => !previouslyManaged.has(entry.fields[0] ?? '');
  const sorted = [...accounts].sort((a, b) => a.uid - b.uid);

  const passwdLines = [
    ...passwd.filter(isKept).map((entry) => entry.line),
    ...sorted.map((account) => `${account.name}:x:${account.uid}:${account.uid}:${HOST_ACCOUNT_MARKER}:${account.home}:/bin/sh`),
  ];
  const groupLines = [
    ...entries(current.group)
      .filter((entry) => isKept(entry) && entry.fields[0] !== HOSTS_GROUP)
      .map((entry) => entry.line),
    ...sorted.map((account) => `${account.name}:x:${account.uid}:`),
    `${HOSTS_GROUP}:x:${HOSTS_GROUP_ID}:${sorted.map((account) => account.name).join(',')}`,
  ];
  // `*`, not `!`: sshd refuses a locked account when PAM is off, and no password ever works.
  const shadowLines = [
    ...entries(current.shadow)
      .filter(isKept)
      .map((entry) => entry.line),
    ...sorted.map((account) => `${account.name}:*:19000:0:99999:7:::`),
  ];
  return {
    passwd: `${passwdLines.join('\n')}\n`,
    group: `${groupLines.join('\n')}\n`,
    shadow: `${shadowLines.join('\n')}\n`,
  };
}

/** UID and GID of a named account in passwd text, or null. */
export function findAccount(passwd: string, name: string): { uid: number; gid: number } | null {
  const entry = entries(passwd).find((candidate) => candidate.fields[0] === name);
  if (!entry) return null;
  return { uid: Number(entry.fields[2]), gid: Number(entry.fields[3]) };
}
