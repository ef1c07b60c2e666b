/**
 * /etc/passwd, /etc/group and /etc/shadow as text in, text out: the managed
 * host accounts are replaced as a block, every other line is kept as it was.
 * No process per user (the ancestor ran one useradd each, ~20 ms a user).
 */

export const HOST_ACCOUNT_MARKER = 'secure-borg-server host';
export const HOSTS_GROUP = 'borg-hosts';
export const HOSTS_GROUP_ID = 19999;

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

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

function field(line: string, index: number): string {
  return line.split(':')[index] ?? '';
}

/** Names and UIDs of accounts this server does not manage, for conflict checks. */
function foreignAccounts(passwdLines: string[]) {
  const foreign = passwdLines.filter((line) => field(line, 4) !== HOST_ACCOUNT_MARKER);
  return {
    names: new Set(foreign.map((line) => field(line, 0))),
    ids: new Set(foreign.map((line) => Number(field(line, 2)))),
  };
}

/**
 * Accounts that cannot be created because a system account already has the
 * name or the ID; the provisioner leaves those hosts out and reports them.
 */
export function findConflicts(files: AccountFiles, accounts: HostAccount[]): AccountConflict[] {
  const passwdLines = lines(files.passwd);
  const users = foreignAccounts(passwdLines);
  const groups = lines(files.group).map((line) => ({ name: field(line, 0), id: Number(field(line, 2)) }));
  const managedNames = new Set(passwdLines.filter((line) => field(line, 4) === HOST_ACCOUNT_MARKER).map((line) => field(line, 0)));
  const foreignGroups = groups.filter((group) => !managedNames.has(group.name) && group.name !== HOSTS_GROUP);
  const conflicts: AccountConflict[] = [];
  for (const account of accounts) {
    if (users.names.has(account.name)) conflicts.push({ name: account.name, reason: 'a system account has this name' });
    else if (users.ids.has(account.uid)) conflicts.push({ name: account.name, reason: `a system account has UID ${account.uid}` });
    else if (foreignGroups.some((group) => group.name === account.name || group.id === account.uid)) {
      conflicts.push({ name: account.name, reason: 'a system group has this name or ID' });
    }
  }
  return conflicts;
}

/** The account files with exactly `accounts` as the managed host accounts. */
export function renderAccountFiles(current: AccountFiles, accounts: HostAccount[]): AccountFiles {
  const passwdLines = lines(current.passwd);
  const previouslyManaged = new Set(passwdLines.filter((line) => field(line, 4) === HOST_ACCOUNT_MARKER).map((line) => field(line, 0)));
  const isManaged = (name: string) => previouslyManaged.has(name);
  const sorted = [...accounts].sort((a, b) => a.uid - b.uid);

  const passwd = [
    ...passwdLines.filter((line) => !isManaged(field(line, 0))),
    ...sorted.map((account) => `${account.name}:x:${account.uid}:${account.uid}:${HOST_ACCOUNT_MARKER}:${account.home}:/bin/sh`),
  ];
  const group = [
    ...lines(current.group).filter((line) => !isManaged(field(line, 0)) && field(line, 0) !== HOSTS_GROUP),
    ...sorted.map((account) => `${account.name}:x:${account.uid}:`),
    `${HOSTS_GROUP}:x:${HOSTS_GROUP_ID}:${sorted.map((account) => account.name).join(',')}`,
  ];
  // `*`, not `!`: sshd refuses a locked account when PAM is off, and no password ever works.
  const shadow = [
    ...lines(current.shadow).filter((line) => !isManaged(field(line, 0))),
    ...sorted.map((account) => `${account.name}:*:19000:0:99999:7:::`),
  ];
  return { passwd: `${passwd.join('\n')}\n`, group: `${group.join('\n')}\n`, shadow: `${shadow.join('\n')}\n` };
}

/** UID and GID of a named account in passwd text, or null. */
export function findAccount(passwd: string, name: string): { uid: number; gid: number } | null {
  const line = lines(passwd).find((candidate) => field(candidate, 0) === name);
  if (!line) return null;
  return { uid: Number(field(line, 2)), gid: Number(field(line, 3)) };
}
