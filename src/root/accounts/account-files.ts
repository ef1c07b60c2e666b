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

/** What the conflict check and the render need of the three texts: all of it but the host accounts' lines. */
interface AccountFilesView {
  files: AccountFiles;
  /** The names of the passwd lines that carry the host marker: the accounts the server made. */
  managed: ReadonlySet<string>;
  /** passwd lines without the marker: the system's users. */
  foreignUsers: readonly Entry[];
  /** The lines a render keeps: not a managed name (and in group, not the hosts group either: the system's groups). */
  keptPasswd: readonly Entry[];
  keptGroup: readonly Entry[];
  keptShadow: readonly Entry[];
  /** The system's names and IDs, made at the first conflict check of these texts. */
  taken?: { userNames: Set<string>; userIds: Set<number>; groupNames: Set<string>; groupIds: Set<number> };
}

/**
 * The views of the texts seen last, each found again only for the very same
 * three texts (a pass reads the files, and renders them anew): the host lines
 * are not split again by the next pass, and a text that differs in any
 * character (a hand edit, a useradd) is split and looked at whole.
 */
const recentViews: AccountFilesView[] = [];
const RECENT_VIEWS_KEPT = 4;

function remember(view: AccountFilesView): AccountFilesView {
  recentViews.unshift(view);
  recentViews.length = Math.min(recentViews.length, RECENT_VIEWS_KEPT);
  return view;
}

/** Each non-empty line with its colon-separated fields. */
function entries(text: string): Entry[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => Object.freeze({ line, fields: Object.freeze(line.split(':')) }));
}

const nameOf = (entry: Entry) => entry.fields[0] ?? '';

function viewOf(files: AccountFiles): AccountFilesView {
  const known = recentViews.find(
    (view) => view.files.passwd === files.passwd && view.files.group === files.group && view.files.shadow === files.shadow,
  );
  if (known) return known;
  const passwd = entries(files.passwd);
  const managed = new Set(passwd.filter((entry) => entry.fields[4] === HOST_ACCOUNT_MARKER).map(nameOf));
  const isKept = (entry: Entry) => !managed.has(nameOf(entry));
  return remember({
    files: { ...files },
    managed,
    foreignUsers: passwd.filter((entry) => entry.fields[4] !== HOST_ACCOUNT_MARKER),
    keptPasswd: passwd.filter(isKept),
    keptGroup: entries(files.group).filter((entry) => isKept(entry) && nameOf(entry) !== HOSTS_GROUP),
    keptShadow: entries(files.shadow).filter(isKept),
  });
}

/**
 * Accounts that cannot be created because a system account already has the
 * name or the ID; the provisioner leaves those hosts out and reports them.
 */
export function findConflicts(files: AccountFiles, accounts: HostAccount[]): AccountConflict[] {
  const view = viewOf(files);
  // The groups of the system: not a managed name, not the hosts group (the lines a render keeps).
  view.taken ??= {
    userNames: new Set(view.foreignUsers.map(nameOf)),
    userIds: new Set(view.foreignUsers.map((entry) => Number(entry.fields[2]))),
    groupNames: new Set(view.keptGroup.map(nameOf)),
    groupIds: new Set(view.keptGroup.map((entry) => Number(entry.fields[2]))),
  };
  const { userNames, userIds, groupNames, groupIds } = view.taken;
  return accounts.flatMap((account) => {
    if (userNames.has(account.name)) return [{ name: account.name, reason: 'a system account has this name' }];
    if (userIds.has(account.uid)) return [{ name: account.name, reason: `a system account has UID ${account.uid}` }];
    if (groupNames.has(account.name) || groupIds.has(account.uid))
      return [{ name: account.name, reason: 'a system group has this name or ID' }];
    return [];
  });
}

interface HostLines {
  uid: number;
  home: string;
  passwd: string;
  group: string;
  shadow: string;
}

/** Each account's three lines as the last render made them, by name: made again only when its UID or home differs. */
let renderedLines = new Map<string, HostLines>();

function linesOf(account: HostAccount, rendered: Map<string, HostLines>): HostLines {
  const { name, uid, home } = account;
  const known = rendered.get(name);
  if (known !== undefined && known.uid === uid && known.home === home) return known;
  return {
    uid,
    home,
    passwd: `${name}:x:${uid}:${uid}:${HOST_ACCOUNT_MARKER}:${home}:/bin/sh`,
    group: `${name}:x:${uid}:`,
    // `*`, not `!`: sshd refuses a locked account when PAM is off, and no password ever works.
    shadow: `${name}:*:19000:0:99999:7:::`,
  };
}

/** An account whose lines split back into exactly its own fields (a host name: no colon, no newline). */
const splitsBack = (account: HostAccount) =>
  typeof account.name === 'string' &&
  !/[:\n]/.test(account.name) &&
  Number.isSafeInteger(account.uid) &&
  typeof account.home === 'string' &&
  !account.home.includes('\n');

/** Accounts in the order the files list them: by UID. */
export const byUid = (a: HostAccount, b: HostAccount) => a.uid - b.uid;

/**
 * The account files with exactly `accounts` as the managed host accounts.
 * `isSortedByUid`: the caller keeps them in that order already (a pass for one
 * host changes one of them in a sorted list), so they are not sorted again.
 */
export function renderAccountFiles(
  current: AccountFiles,
  accounts: HostAccount[],
  options: { isSortedByUid?: boolean } = {},
): AccountFiles {
  const view = viewOf(current);
  const sorted = options.isSortedByUid === true ? accounts : [...accounts].sort(byUid);
  const previous = renderedLines;
  const lines = sorted.map((account) => linesOf(account, previous));
  renderedLines = new Map(sorted.map((account, index) => [account.name, lines[index] as HostLines]));

  const passwdLines = [...view.keptPasswd.map((entry) => entry.line), ...lines.map((line) => line.passwd)];
  const groupLines = [
    ...view.keptGroup.map((entry) => entry.line),
    ...lines.map((line) => line.group),
    `${HOSTS_GROUP}:x:${HOSTS_GROUP_ID}:${sorted.map((account) => account.name).join(',')}`,
  ];
  const shadowLines = [...view.keptShadow.map((entry) => entry.line), ...lines.map((line) => line.shadow)];
  const rendered = {
    passwd: `${passwdLines.join('\n')}\n`,
    group: `${groupLines.join('\n')}\n`,
    shadow: `${shadowLines.join('\n')}\n`,
  };
  // What these texts hold is known without splitting them: the kept lines, then the accounts' own (which carry
  // the marker, and no kept line does: a marked line's name is managed, so it is not kept).
  if (sorted.every(splitsBack)) {
    const names = new Set(sorted.map((account) => account.name));
    const isKept = (entry: Entry) => !names.has(nameOf(entry));
    remember({
      files: rendered,
      managed: names,
      foreignUsers: view.keptPasswd,
      keptPasswd: view.keptPasswd.filter(isKept),
      keptGroup: view.keptGroup.filter(isKept),
      keptShadow: view.keptShadow.filter(isKept),
    });
  }
  return rendered;
}

/** UID and GID of a named account in passwd text, or null. */
export function findAccount(passwd: string, name: string): { uid: number; gid: number } | null {
  const entry = entries(passwd).find((candidate) => candidate.fields[0] === name);
  if (!entry) return null;
  return { uid: Number(entry.fields[2]), gid: Number(entry.fields[3]) };
}
