import { lstatSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { eq } from 'drizzle-orm';
import { type Config, statePaths } from '../../config.js';
import { type Db, dataVersionOf } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import type { KeyLineHost } from '../../domain/authorized-keys.js';
import { checkScratchDir } from '../../domain/borg-check.js';
import { isAppendOnlyNow, nextFullAccessEnd } from '../../domain/full-access.js';
import { isHostAccountUid } from '../../domain/host-uid.js';
import type { SshKeyType } from '../../domain/ssh-public-key.js';
import { forgetHostMonitoring } from '../../host-records/forget-host.js';
import type { Run } from '../../process/run.js';
import {
  type AccountConflict,
  type AccountFiles,
  byUid,
  findConflicts,
  type HostAccount,
  renderAccountFiles,
} from '../accounts/account-files.js';
import { parseServerAccounts, type ServerAccount, serverAccountOf, serverUidsAmong } from '../accounts/server-accounts.js';
import { type FileOwnership, readTextIfExists, writeFileAtomically } from '../files/atomic-file.js';
import { ensureDirectory } from '../files/directories.js';
import { endSessionsOf } from '../processes/sessions.js';
import { reportToApi } from '../reports/report-to-api.js';
import { isAtLeast, readAlgorithmSupport, readOpenSshVersion } from '../sshd/openssh-version.js';
import { renderSshdConfig } from '../sshd/sshd-config.js';
import { acceptedHostRows, type CheckedHostIndex, type RefusedHost } from './accepted-host-rows.js';
import { type ReconcileHostRow, readHostRows } from './host-rows.js';
import { createKeyLineMemo, type KeyLineMemo } from './key-line-memo.js';
import { readMaintainerLines } from './maintainer-lines.js';

export interface ReconcileSettings {
  stateDir: string;
  backupDir: string;
  sshPort: number;
  sshListenAddresses?: string[];
  sshPerSourceMaxStartups?: number;
  hasPerSourcePenalties?: boolean;
  /** What the installed OpenSSH knows (`ssh -Q kex`) and whether the CPU has AES instructions. */
  supportedKex?: ReadonlySet<string> | null;
  hasAesInstructions?: boolean;
  /** Where passwd, group and shadow live; tests point it elsewhere. */
  etcDir?: string;
  /** Where sessions are looked for (/proc); tests point it at a fake one. */
  procDir?: string;
}

/** The settings reconcile needs, from the config and the installed sshd. */
export async function reconcileSettingsFor(config: Config, run: Run): Promise<ReconcileSettings> {
  const version = await readOpenSshVersion(run);
  return {
    stateDir: config.stateDir,
    backupDir: config.backupDir,
    sshPort: config.sshPort,
    sshListenAddresses: config.sshListenAddresses,
    sshPerSourceMaxStartups: config.sshPerSourceMaxStartups,
    hasPerSourcePenalties: isAtLeast(version, 9, 8),
    ...(await readAlgorithmSupport(run)),
  };
}

export interface ReconcileSummary {
  accounts: number;
  conflicts: AccountConflict[];
  /** Rows nothing was done for: not valid any more (the API may have written anything), see accepted-host-rows.ts. */
  refused: RefusedHost[];
  accountFilesChanged: boolean;
  keyFilesWritten: number;
  keyFilesRemoved: number;
  purged: string[];
  /** What was not done because the account is not one this server made (or its directory not the host's): nothing signalled or removed. */
  leftAlone: LeftAlone[];
  sessionsEnded: number;
  sshdConfigChanged: boolean;
  /** When the next full-access window ends: reconcile again then. */
  nextFullAccessEnd: Date | null;
  /** The rows this pass accepted and kept (purged ones left out): what the watches look at next. */
  hosts: HostRow[];
}

type HostRow = ReconcileHostRow;

/** A UID whose sessions were not ended, or a purged host whose files were kept, and why. */
export interface LeftAlone {
  name?: string;
  uid: number;
  reason: string;
}

export const ROOT_ONLY = { uid: 0, gid: 0 };

/**
 * What earlier passes of this process applied. With it, a pass after one
 * change touches the files of changed hosts only, so approving a host stays
 * fast with thousands of them; without it (a new one, at start and on
 * SIGHUP), every directory and key file is checked against the disk again,
 * and every row's key line rendered again.
 */
export interface ReconcileMemory {
  directories: Map<string, string>;
  /** Hosts' homes whose home and repo directories were made for this UID. */
  hostDirectories: Map<string, number>;
  /** Key files on disk as this process wrote or found them (by host name): after one full listing, all of them. */
  keyFiles: Map<string, { uid: number; line: string }>;
  /** Whether a pass listed the key file directory: then only this process wrote or removed a file in it since. */
  hasListedKeyFiles: boolean;
  keyLines: KeyLineMemo;
  /** The last /etc/passwd text parsed for the server's accounts, and what it held. */
  parsedPasswd: { text: string; accounts: Map<number, ServerAccount> } | null;
  /** What the last pass left applied, for a pass of one changed host (reconcile-host.ts); null until a full pass completed. */
  applied: AppliedHosts | null;
}

/** What the system holds after a pass, as that pass made it: a pass for one host changes it by that host. */
export interface AppliedHosts {
  /** Root's database's data_version after the pass: another connection's commit changes it. */
  dataVersion: number;
  /** /etc/passwd, group and shadow as the pass left them. */
  accountFiles: AccountFiles;
  /** The rows the pass accepted, by name (purged ones left out): summary.hosts. */
  rows: Map<string, HostRow>;
  /** The host accounts in the account files, by UID. */
  accounts: HostAccount[];
  /** Hosts left out (their account would clash, their directories could not be made) or refused. */
  leftOut: Set<string>;
  /** The names and UIDs of the rows the pass checked. */
  index: CheckedHostIndex;
  nextFullAccessEnd: Date | null;
}

export function createReconcileMemory(): ReconcileMemory {
  return {
    directories: new Map(),
    hostDirectories: new Map(),
    keyFiles: new Map(),
    hasListedKeyFiles: false,
    keyLines: createKeyLineMemo(),
    parsedPasswd: null,
    applied: null,
  };
}

export function serverAccountsIn(memory: ReconcileMemory, passwd: string, backupDir: string): Map<number, ServerAccount> {
  if (memory.parsedPasswd?.text !== passwd) memory.parsedPasswd = { text: passwd, accounts: parseServerAccounts(passwd, backupDir) };
  return memory.parsedPasswd.accounts;
}

export function ensureDirectoryOnce(memory: ReconcileMemory, path: string, ownership: FileOwnership): void {
  const applied = `${ownership.uid}:${ownership.gid}:${ownership.mode}`;
  if (memory.directories.get(path) === applied) return;
  ensureDirectory(path, ownership);
  memory.directories.set(path, applied);
}

/**
 * Makes the system match the database, as of `now` (full-access windows):
 * accounts, directories, key files and sshd_config. Idempotent, and safe to
 * re-run after a crash at any point: every file it owns is written whole and
 * renamed into place. A host whose key line changes (re-keyed, or its
 * full-access window ended), or that is disabled, deleted or purged, has its
 * open sessions ended.
 */
export function reconcile(
  db: Db,
  settings: ReconcileSettings,
  memory: ReconcileMemory = createReconcileMemory(),
  now: Date = new Date(),
): ReconcileSummary {
  const etcDir = settings.etcDir ?? '/etc';
  const paths = statePaths(settings.stateDir);
  // Until this pass completes, what it applies is not known: a pass for one host does a full pass instead.
  memory.applied = null;
  const checked = acceptedHostRows(readHostRows(db), settings.backupDir, memory.keyLines);
  const refused = checked.refused;
  const rows = checked.accepted;
  const wanted = rows.filter((row) => row.status === 'active' || row.status === 'disabled');
  const purging = rows.filter((row) => row.status === 'purging');
  const purgingNames = new Set(purging.map((row) => row.name));

  const current = readAccountFiles(etcDir);
  // A purged host keeps its account until its files are gone: root removes only what an account it made owns,
  // so a crash between the account's removal and the data's would leave the data for ever, without its host.
  const accounts: HostAccount[] = [...wanted, ...purging].map((row) => ({
    name: row.name,
    uid: row.uid,
    home: `${settings.backupDir}/${row.name}`,
  }));
  const conflicts = findConflicts(current, accounts);
  const blocked = new Set(conflicts.map((conflict) => conflict.name));

  // Directories first: a host whose home or repo is not a directory (a file or a link from an
  // old volume or an import) is refused and left out, and the others are provisioned.
  ensureDirectoryOnce(memory, settings.backupDir, { ...ROOT_ONLY, mode: 0o711 });
  for (const account of accounts) {
    if (blocked.has(account.name) || purgingNames.has(account.name)) continue;
    // Both made for this UID by an earlier pass: nothing to build or look up per directory.
    if (memory.hostDirectories.get(account.home) === account.uid) continue;
    try {
      ensureDirectoryOnce(memory, account.home, { uid: 0, gid: account.uid, mode: 0o710 });
      ensureDirectoryOnce(memory, `${account.home}/repo`, { uid: account.uid, gid: account.uid, mode: 0o700 });
      memory.hostDirectories.set(account.home, account.uid);
    } catch (error) {
      refused.push({ name: account.name, reason: `its directories cannot be made: ${(error as Error).message}` });
      blocked.add(account.name);
    }
  }
  const provisioned = accounts.filter((account) => !blocked.has(account.name));
  const next = renderAccountFiles(current, provisioned);
  const accountFilesChanged = writeAccountFiles(etcDir, current, next);
  // The accounts root made, before this pass and after it (a purged host's goes in this pass):
  // the only ones whose processes are signalled and whose files are removed, whatever a row says.
  // Read only when a session is to end or a host purged: a pass that adds a host needs neither.
  const serverAccountsBeforeAndAfter = () =>
    new Map([
      ...serverAccountsIn(memory, current.passwd, settings.backupDir),
      ...serverAccountsIn(memory, next.passwd, settings.backupDir),
    ]);

  ensureDirectoryOnce(memory, paths.sshDir, { ...ROOT_ONLY, mode: 0o711 });
  ensureDirectoryOnce(memory, paths.authorizedKeysDir, { ...ROOT_ONLY, mode: 0o711 });
  const keyLines = new Map<string, { line: string; uid: number }>();
  const maintainerLines = readMaintainerLines(db);
  for (const row of wanted) {
    if (row.status !== 'active' || blocked.has(row.name)) continue;
    // Only what a key line is made of: no copy of the whole row for each host at each pass.
    const host: KeyLineHost = {
      name: row.name,
      keyType: row.keyType as SshKeyType,
      keyBase64: row.keyBase64,
      appendOnly: isAppendOnlyNow(row, now),
      quotaBytes: row.quotaBytes,
      allowFrom: row.allowFrom,
    };
    const hostLine = memory.keyLines.render(host, settings.backupDir);
    keyLines.set(row.name, { line: maintainerLines.keyFileOf(host, hostLine, settings.backupDir), uid: row.uid });
  }
  memory.keyLines.endPass();
  for (const left of maintainerLines.refused) refused.push({ name: `maintainer:${left.maintainer}`, reason: left.reason });
  const keys = syncKeyFiles(paths.authorizedKeysDir, keyLines, rows, memory);
  // A purged host's sessions end before its data and its row go (its UID is free for a new host then).
  const endingUids = [...new Set([...keys.revokedUids, ...purging.map((row) => row.uid)])];
  const serverAccounts = endingUids.length > 0 || purging.length > 0 ? serverAccountsBeforeAndAfter() : new Map<number, ServerAccount>();
  const endingServerUids = serverUidsAmong(serverAccounts, endingUids);
  const leftAlone: LeftAlone[] = endingUids
    .filter((uid) => !endingServerUids.has(uid))
    .map((uid) => ({ uid, reason: 'not an account this server made: its processes are not signalled' }));
  const sessionsEnded = endSessionsOf(endingServerUids, 'SIGKILL', settings.procDir);
  const purged = purgeHosts(db, settings, purging, now, serverAccounts, leftAlone);
  // Their directories are gone: a host made again with the name (and perhaps the UID) gets them anew.
  for (const row of purging) {
    const home = `${settings.backupDir}/${row.name}`;
    memory.hostDirectories.delete(home);
    memory.directories.delete(home);
    memory.directories.delete(`${home}/repo`);
  }
  // Their rows are gone now (their data too, unless it was not theirs): so are their accounts.
  const keptAccounts = provisioned.filter((account) => !purgingNames.has(account.name)).sort(byUid);
  const afterPurge = purging.length === 0 ? next : renderAccountFiles(next, keptAccounts, { isSortedByUid: true });
  const hasPurgedAccounts = writeAccountFiles(etcDir, next, afterPurge);
  for (const row of purging) {
    if (checked.index.nameByUid.get(row.uid) === row.name) checked.index.nameByUid.delete(row.uid);
  }

  const sshdConfig = renderSshdConfig({
    port: settings.sshPort,
    listenAddresses: settings.sshListenAddresses ?? [],
    perSourceMaxStartups: settings.sshPerSourceMaxStartups,
    sshDir: paths.sshDir,
    authorizedKeysDir: paths.authorizedKeysDir,
    hasPerSourcePenalties: settings.hasPerSourcePenalties ?? false,
    supportedKex: settings.supportedKex ?? null,
    hasAesInstructions: settings.hasAesInstructions ?? false,
  });
  const sshdConfigChanged = readTextIfExists(paths.sshdConfig) !== sshdConfig;
  if (sshdConfigChanged) writeFileAtomically(paths.sshdConfig, sshdConfig, { ...ROOT_ONLY, mode: 0o644 });

  const keptRows = rows.filter((row) => !purgingNames.has(row.name));
  const fullAccessEnd = nextFullAccessEnd(
    wanted.filter((row) => row.status === 'active'),
    now,
  );
  memory.applied = {
    dataVersion: dataVersionOf(db),
    accountFiles: afterPurge,
    rows: new Map(keptRows.map((row) => [row.name, row])),
    accounts: keptAccounts,
    leftOut: new Set([...blocked, ...refused.map((refusal) => refusal.name)]),
    index: checked.index,
    nextFullAccessEnd: fullAccessEnd,
  };

  return {
    accounts: provisioned.length - purging.filter((row) => !blocked.has(row.name)).length,
    conflicts,
    refused,
    accountFilesChanged: accountFilesChanged || hasPurgedAccounts,
    keyFilesWritten: keys.written,
    keyFilesRemoved: keys.removed,
    purged,
    leftAlone,
    sessionsEnded,
    sshdConfigChanged,
    nextFullAccessEnd: fullAccessEnd,
    hosts: keptRows,
  };
}

export function readAccountFiles(etcDir: string): AccountFiles {
  return {
    passwd: readTextIfExists(`${etcDir}/passwd`) ?? '',
    group: readTextIfExists(`${etcDir}/group`) ?? '',
    shadow: readTextIfExists(`${etcDir}/shadow`) ?? '',
  };
}

/** Writes each account file that differs, keeping the owner and mode it had. */
export function writeAccountFiles(etcDir: string, current: AccountFiles, next: AccountFiles): boolean {
  let changed = false;
  for (const name of ['group', 'passwd', 'shadow'] as const) {
    if (current[name] === next[name]) continue;
    const path = `${etcDir}/${name}`;
    const existing = statOrNull(path);
    const ownership = existing
      ? { uid: existing.uid, gid: existing.gid, mode: existing.mode & 0o7777 }
      : { ...ROOT_ONLY, mode: name === 'shadow' ? 0o640 : 0o644 };
    writeFileAtomically(path, next[name], ownership);
    changed = true;
  }
  return changed;
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * One root-owned key file per active host, readable by that host's group
 * only (sshd reads it with the user's privileges). Files of hosts that are
 * gone, disabled or re-keyed are replaced or removed, and their UIDs are
 * returned so their open sessions can be ended.
 */
function syncKeyFiles(
  directory: string,
  keyLines: Map<string, { line: string; uid: number }>,
  rows: { name: string; uid: number }[],
  memory: ReconcileMemory,
): { written: number; removed: number; revokedUids: Set<number> } {
  const applied = memory.keyFiles;
  const uidByName = new Map(rows.map((row) => [row.name, row.uid]));
  const revokedUids = new Set<number>();
  let written = 0;
  let removed = 0;
  for (const [name, wanted] of keyLines) {
    const result = writeKeyFile(directory, name, wanted, memory);
    if (result.isWritten) written += 1;
    if (result.revokedUid !== null) revokedUids.add(result.revokedUid);
  }
  // Once listed, the directory (root's, 0711) holds what this process left in it: no listing of every file again.
  const entries = memory.hasListedKeyFiles ? [...applied.keys()] : readdirSync(directory);
  for (const entry of entries) {
    if (keyLines.has(entry)) continue;
    const result = removeKeyFile(directory, entry, uidByName.get(entry), memory);
    if (result.isRemoved) removed += 1;
    if (result.revokedUid !== null) revokedUids.add(result.revokedUid);
  }
  memory.hasListedKeyFiles = true;
  return { written, removed, revokedUids };
}

/** Writes one host's key file unless it holds `line` already, as root:UID 0640; the UID whose key changed, if one did. */
export function writeKeyFile(
  directory: string,
  name: string,
  { line, uid }: { line: string; uid: number },
  memory: ReconcileMemory,
): { isWritten: boolean; revokedUid: number | null } {
  const known = memory.keyFiles.get(name);
  if (known?.uid === uid && known.line === line) return { isWritten: false, revokedUid: null };
  const path = `${directory}/${name}`;
  const existing = readTextIfExists(path);
  const stats = existing === null ? null : statSync(path);
  const isCurrent = existing === line && stats?.uid === 0 && stats.gid === uid && (stats.mode & 0o7777) === 0o640;
  if (!isCurrent) writeFileAtomically(path, line, { uid: 0, gid: uid, mode: 0o640 });
  memory.keyFiles.set(name, { uid, line });
  return { isWritten: !isCurrent, revokedUid: !isCurrent && existing !== null && hasLineLeftOut(existing, line) ? uid : null };
}

/**
 * Whether a key file's new text leaves out a line of its old one (a key or
 * its policy changed, a maintainer was revoked): then the account's open
 * sessions end. A line added (a maintainer granted) ends none, so a grant
 * does not cut the host's running backup.
 */
function hasLineLeftOut(before: string, after: string): boolean {
  const kept = new Set(after.split('\n'));
  return before.split('\n').some((line) => !kept.has(line));
}

/** Removes one key file (gone already is fine); the UID whose sessions end: the row's, else the file's group. */
export function removeKeyFile(
  directory: string,
  entry: string,
  rowUid: number | undefined,
  memory: ReconcileMemory,
): { isRemoved: boolean; revokedUid: number | null } {
  // The file's group is who could use it, even when its row is gone or refused now.
  const stats = lstatSync(`${directory}/${entry}`, { throwIfNoEntry: false });
  memory.keyFiles.delete(entry);
  // Gone already (removed by hand since): its sessions end all the same.
  if (stats !== undefined) unlinkSync(`${directory}/${entry}`);
  const uid = rowUid ?? stats?.gid ?? Number.NaN;
  return { isRemoved: stats !== undefined, revokedUid: isHostAccountUid(uid) ? uid : null };
}

/**
 * Removes the data of hosts deleted with purge (repository, and borg's
 * files from their checks), then their rows (checked rows only, whose
 * account, key and sessions are gone already). Only what is the host's:
 * its account must be one root made (the same name and UID), and each
 * directory a real directory (not a link) owned by root with the host's
 * group, as reconcile makes the home, or by the host, as the checks make
 * theirs. Anything else is kept and reported; the row goes either way.
 */
function purgeHosts(
  db: Db,
  settings: ReconcileSettings,
  purging: HostRow[],
  now: Date,
  serverAccounts: ReadonlyMap<number, ServerAccount>,
  leftAlone: LeftAlone[],
): string[] {
  const purged: string[] = [];
  for (const row of purging) {
    const account = serverAccountOf(serverAccounts, row);
    if (account === null) {
      leftAlone.push({ name: row.name, uid: row.uid, reason: 'not an account this server made: its files are kept' });
    } else {
      const directories = [`${settings.backupDir}/${row.name}`, checkScratchDir(settings.stateDir, row.name)];
      const kept = directories.filter((path) => !removeHostDirectory(path, account));
      for (const path of kept) {
        leftAlone.push({ name: row.name, uid: row.uid, reason: `${path} is a link or not the host's: kept` });
      }
      if (kept.length === 0) purged.push(row.name);
    }
    db.transaction((tx) => {
      tx.delete(hosts).where(eq(hosts.name, row.name)).run();
      forgetHostMonitoring(tx, row.name);
      // The API forgets it too once it has this report (the name is free again).
      reportToApi(tx, now, { kind: 'host', name: row.name, row: null });
    });
  }
  return purged;
}

/** Removes `path` if it is the host's directory (or gone already); false if it is something else, which stays. */
function removeHostDirectory(path: string, account: ServerAccount): boolean {
  const stats = lstatSync(path, { throwIfNoEntry: false });
  if (stats === undefined) return true;
  const isHosts = stats.isDirectory() && ((stats.uid === 0 && stats.gid === account.uid) || stats.uid === account.uid);
  if (isHosts) rmSync(path, { recursive: true, force: true });
  return isHosts;
}
