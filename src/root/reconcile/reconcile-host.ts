import { statePaths } from '../../config.js';
import { type Db, dataVersionOf } from '../../db/connection.js';
import type { KeyLineHost } from '../../domain/authorized-keys.js';
import { isAppendOnlyNow } from '../../domain/full-access.js';
import type { SshKeyType } from '../../domain/ssh-public-key.js';
import { type AccountFiles, findConflicts, type HostAccount, indexByUid, renderChangedAccount } from '../accounts/account-files.js';
import { serverUidsAmong } from '../accounts/server-accounts.js';
import { endSessionsOf } from '../processes/sessions.js';
import { recordChangedRow, refusalOfChangedRow } from './accepted-host-rows.js';
import { readHostRow } from './host-rows.js';
import { readMaintainerLinesOf } from './maintainer-lines.js';
import {
  ensureDirectoryOnce,
  type LeftAlone,
  type ReconcileMemory,
  type ReconcileSettings,
  type ReconcileSummary,
  ROOT_ONLY,
  readAccountFiles,
  removeKeyFile,
  serverAccountsIn,
  writeAccountFiles,
  writeKeyFile,
} from './reconcile.js';

/** A pass for one host: its summary, or why only a full pass can decide (then nothing was changed but its directories). */
export type HostReconcile = { isDone: true; summary: ReconcileSummary } | { isDone: false; reason: string };

const notDone = (reason: string): HostReconcile => ({ isDone: false, reason });

/**
 * Makes the system match one changed host's row, as a full pass would
 * (reconcile.ts), from what the last pass left applied (memory.applied)
 * instead of every row: the host's one row, read by name and checked with
 * acceptedHostRows' rules against the names and UIDs the last pass checked;
 * its directories; its key file; its lines in /etc/passwd, group and shadow
 * (put in or taken out of the texts the last pass wrote, in place, which are
 * still written whole and renamed). So a change of one host reads one row and
 * writes at most four files, at 10 hosts as at 10,000 (only the bytes of the
 * three account files grow with the hosts).
 *
 * Whatever it cannot decide from that alone is left to a full pass (not
 * done, with the reason): no completed pass to build on, another connection
 * wrote root's database since, the account files differ from what the last
 * pass left (edited by hand, a useradd), the row refused or sharing a UID
 * with another, the host refused or left out at the last pass, a clash with a
 * system account, directories that cannot be made, a purge, a changed UID, an
 * open full-access window (its end is every host's timer).
 */
export function reconcileHost(
  db: Db,
  settings: ReconcileSettings,
  memory: ReconcileMemory,
  name: string,
  now: Date = new Date(),
): HostReconcile {
  const applied = memory.applied;
  if (applied === null) return notDone('no completed pass to build on');
  if (applied.index.hasSharedRows) return notDone('rows share a name or a UID');
  if (dataVersionOf(db) !== applied.dataVersion) return notDone("another process wrote root's database");
  const etcDir = settings.etcDir ?? '/etc';
  const current = readAccountFiles(etcDir);
  if (!isSameText(current, applied.accountFiles)) return notDone('the account files changed since the last pass');
  const row = readHostRow(db, name);
  if (row === undefined) return notDone('no row of that name');
  if (applied.leftOut.has(name)) return notDone('the host was refused or left out at the last pass');
  const refusal = refusalOfChangedRow(row, applied.index, settings.backupDir, memory.keyLines);
  if (refusal !== null) return notDone(`the row is refused: ${refusal.reason}`);
  if (row.status === 'purging') return notDone('a purge');
  const before = applied.rows.get(name);
  if (before !== undefined && before.uid !== row.uid) return notDone('its UID changed');
  if (hasOpenWindow(before, now) || hasOpenWindow(row, now)) return notDone('a full-access window');

  const home = `${settings.backupDir}/${name}`;
  const isWanted = row.status === 'active' || row.status === 'disabled';
  const account: HostAccount | null = isWanted ? { name, uid: row.uid, home } : null;
  if (account !== null && findConflicts(current, [account]).length > 0) return notDone('its account would clash with a system account');
  ensureDirectoryOnce(memory, settings.backupDir, { ...ROOT_ONLY, mode: 0o711 });
  if (account !== null && memory.hostDirectories.get(home) !== account.uid) {
    try {
      ensureDirectoryOnce(memory, home, { uid: 0, gid: account.uid, mode: 0o710 });
      ensureDirectoryOnce(memory, `${home}/repo`, { uid: account.uid, gid: account.uid, mode: 0o700 });
      memory.hostDirectories.set(home, account.uid);
    } catch (error) {
      return notDone(`its directories cannot be made: ${(error as Error).message}`);
    }
  }

  // From here on the pass changes the system: what it leaves applied is unknown until it completes.
  memory.applied = null;
  const { accounts, held } = withAccount(applied.accounts, name, row.uid, account);
  const next = renderChangedAccount(current, accounts, held, account);
  const accountFilesChanged = writeAccountFiles(etcDir, current, next);

  const paths = statePaths(settings.stateDir);
  ensureDirectoryOnce(memory, paths.sshDir, { ...ROOT_ONLY, mode: 0o711 });
  ensureDirectoryOnce(memory, paths.authorizedKeysDir, { ...ROOT_ONLY, mode: 0o711 });
  let keyFile: { isWritten: boolean; isRemoved: boolean; revokedUid: number | null };
  if (row.status === 'active') {
    const host: KeyLineHost = {
      name,
      keyType: row.keyType as SshKeyType,
      keyBase64: row.keyBase64,
      appendOnly: isAppendOnlyNow(row, now),
      quotaBytes: row.quotaBytes,
      allowFrom: row.allowFrom,
    };
    const hostLine = memory.keyLines.render(host, settings.backupDir);
    const line = readMaintainerLinesOf(db, name).keyFileOf(host, hostLine, settings.backupDir);
    keyFile = { ...writeKeyFile(paths.authorizedKeysDir, name, { line, uid: row.uid }, memory), isRemoved: false };
  } else if (memory.keyFiles.has(name)) {
    // After a full pass listed the directory, the files this process knows are all of them.
    keyFile = { ...removeKeyFile(paths.authorizedKeysDir, name, row.uid, memory), isWritten: false };
  } else {
    keyFile = { isWritten: false, isRemoved: false, revokedUid: null };
  }

  const leftAlone: LeftAlone[] = [];
  let sessionsEnded = 0;
  if (keyFile.revokedUid !== null) {
    const uid = keyFile.revokedUid;
    const serverAccounts = new Map([
      ...serverAccountsIn(memory, current.passwd, settings.backupDir),
      ...serverAccountsIn(memory, next.passwd, settings.backupDir),
    ]);
    const endingServerUids = serverUidsAmong(serverAccounts, [uid]);
    if (!endingServerUids.has(uid)) leftAlone.push({ uid, reason: 'not an account this server made: its processes are not signalled' });
    sessionsEnded = endSessionsOf(endingServerUids, 'SIGKILL', settings.procDir);
  }

  const rows = applied.rows;
  rows.set(name, row);
  recordChangedRow(applied.index, row, before?.uid);
  memory.applied = { ...applied, dataVersion: dataVersionOf(db), accountFiles: next, accounts, rows };
  return {
    isDone: true,
    summary: {
      accounts: accounts.length,
      conflicts: [],
      refused: [],
      accountFilesChanged,
      keyFilesWritten: keyFile.isWritten ? 1 : 0,
      keyFilesRemoved: keyFile.isRemoved ? 1 : 0,
      purged: [],
      leftAlone,
      sessionsEnded,
      sshdConfigChanged: false,
      nextFullAccessEnd: applied.nextFullAccessEnd,
      hosts: [...rows.values()],
    },
  };
}

function isSameText(a: AccountFiles, b: AccountFiles): boolean {
  return a.passwd === b.passwd && a.group === b.group && a.shadow === b.shadow;
}

function hasOpenWindow(row: { fullAccessUntil: Date | null } | undefined, now: Date): boolean {
  return row?.fullAccessUntil != null && row.fullAccessUntil.getTime() > now.getTime();
}

/** `accounts` (sorted by UID) with the account of `name` (UID `uid`) replaced by `account`, or removed (null): still sorted; and the one it held. */
function withAccount(
  accounts: readonly HostAccount[],
  name: string,
  uid: number,
  account: HostAccount | null,
): { accounts: HostAccount[]; held: HostAccount | null } {
  const result = accounts.slice();
  const low = indexByUid(result, uid);
  const held = result[low]?.name === name ? (result[low] as HostAccount) : null;
  if (account === null) {
    if (held !== null) result.splice(low, 1);
  } else result.splice(low, held === null ? 0 : 1, account);
  return { accounts: result, held };
}
