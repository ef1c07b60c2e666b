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
  /** Made by a render: the kept lines, then the accounts' lines by UID (and the hosts group last in group), nothing else. */
  isRendered?: boolean;
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
      isRendered: true,
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

/**
 * What renderAccountFiles(current, accounts) gives when `accounts` (sorted by
 * UID) are the accounts of the render `current` came from with one account
 * added (`after`) or removed (`before`), or the same one unchanged: that
 * account's lines put in or taken out of the texts in place, instead of every
 * line joined again (a pass for one host, at 10,000 hosts). Anything else (texts
 * this module did not render, an account whose lines would not split back)
 * is rendered whole.
 */
export function renderChangedAccount(
  current: AccountFiles,
  accounts: HostAccount[],
  before: HostAccount | null,
  after: HostAccount | null,
): AccountFiles {
  const renderWhole = () => renderAccountFiles(current, accounts, { isSortedByUid: true });
  const view = recentViews.find(
    (known) => known.files.passwd === current.passwd && known.files.group === current.group && known.files.shadow === current.shadow,
  );
  if (view?.isRendered !== true) return renderWhole();
  if (before !== null && after !== null) {
    const isSame = before.name === after.name && before.uid === after.uid && before.home === after.home;
    return isSame && view.managed.has(after.name) ? current : renderWhole();
  }
  const changed = after ?? before;
  if (changed === null || !splitsBack(changed) || view.managed.has(changed.name) !== (before !== null)) return renderWhole();
  const lines = linesOf(changed, renderedLines);
  const membersAt = current.group.lastIndexOf('\n', current.group.length - 2) + 1;
  const membersPrefix = `${HOSTS_GROUP}:x:${HOSTS_GROUP_ID}:`;
  const membersLine = current.group.slice(membersAt, -1);
  if (!membersLine.startsWith(membersPrefix) || !current.group.endsWith('\n')) return renderWhole();
  const members = `,${membersLine.slice(membersPrefix.length)},`;
  let files: AccountFiles | null;
  let nextMembers: string;
  if (after !== null) {
    // Its place: before the account that follows it by UID, or last of the accounts.
    const next = accounts[indexByUid(accounts, after.uid) + 1];
    const nextLines = next === undefined ? null : linesOf(next, renderedLines);
    const passwd = insertLine(current.passwd, lines.passwd, nextLines?.passwd ?? null, current.passwd.length);
    const group = insertLine(current.group, lines.group, nextLines?.group ?? null, membersAt);
    const shadow = insertLine(current.shadow, lines.shadow, nextLines?.shadow ?? null, current.shadow.length);
    const memberAt = next === undefined ? members.length - 1 : members.indexOf(`,${next.name},`);
    files = passwd === null || group === null || shadow === null || memberAt < 0 ? null : { passwd, group, shadow };
    nextMembers = members === ',,' ? `,${after.name},` : `${members.slice(0, memberAt)},${after.name}${members.slice(memberAt)}`;
  } else {
    const name = changed.name;
    const passwd = removeLine(current.passwd, lines.passwd);
    const group = removeLine(current.group, lines.group);
    const shadow = removeLine(current.shadow, lines.shadow);
    const memberAt = members.indexOf(`,${name},`);
    files = passwd === null || group === null || shadow === null || memberAt < 0 ? null : { passwd, group, shadow };
    nextMembers = `${members.slice(0, memberAt)}${members.slice(memberAt + name.length + 1)}`;
  }
  if (files === null) return renderWhole();
  const membersText = `${membersPrefix}${nextMembers.slice(1, -1)}\n`;
  files.group = `${files.group.slice(0, files.group.length - membersLine.length - 1)}${membersText}`;

  // The view of the new texts: the old one changed by this account (it is dropped: its texts are no more).
  recentViews.splice(recentViews.indexOf(view), 1);
  const managed = new Set(view.managed);
  const isKept = (entry: Entry) => nameOf(entry) !== changed.name;
  if (after !== null) {
    managed.add(after.name);
    renderedLines.set(after.name, lines);
  } else {
    managed.delete(changed.name);
    renderedLines.delete(changed.name);
  }
  remember({
    files,
    isRendered: true,
    managed,
    foreignUsers: view.foreignUsers,
    keptPasswd: after === null ? view.keptPasswd : view.keptPasswd.filter(isKept),
    keptGroup: after === null ? view.keptGroup : view.keptGroup.filter(isKept),
    keptShadow: after === null ? view.keptShadow : view.keptShadow.filter(isKept),
    ...(view.taken === undefined ? {} : { taken: view.taken }),
  });
  return files;
}

/** The index of the account with UID `uid` in `accounts` sorted by UID, or of the first above it (its place). */
export function indexByUid(accounts: readonly HostAccount[], uid: number): number {
  let low = 0;
  let high = accounts.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((accounts[middle] as HostAccount).uid < uid) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Where a whole line starts in `text`, or -1. */
function lineStart(text: string, line: string): number {
  if (text.startsWith(`${line}\n`)) return 0;
  const at = text.indexOf(`\n${line}\n`);
  return at < 0 ? -1 : at + 1;
}

/** `text` with `line` before the line `nextLine`, or at `endAt` when there is none; null when `nextLine` is not in it. */
function insertLine(text: string, line: string, nextLine: string | null, endAt: number): string | null {
  const at = nextLine === null ? endAt : lineStart(text, nextLine);
  return at < 0 ? null : `${text.slice(0, at)}${line}\n${text.slice(at)}`;
}

/** `text` without the whole line `line`, or null when it is not in it. */
function removeLine(text: string, line: string): string | null {
  const at = lineStart(text, line);
  return at < 0 ? null : `${text.slice(0, at)}${text.slice(at + line.length + 1)}`;
}
