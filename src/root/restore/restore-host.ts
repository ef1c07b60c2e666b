import type { Actor } from '../../domain/actor.js';
import { repositoryPath } from '../../domain/authorized-keys.js';
import { lastBackupKept } from '../../domain/last-backup-kept.js';
import { AppError } from '../../errors.js';
import { findBackupState, updateBackupState } from '../../host-records/backup-state.js';
import { listBackupCommits } from '../../host-records/host-sessions.js';
import { findHost } from '../../host-records/hosts-store.js';
import { readRegularFileIfExists } from '../../untrusted-files.js';
import type { ServerAccount, ServerAccounts, ServerUids } from '../accounts/server-accounts.js';
import { breakStaleLock } from '../borg-files/repository-files.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { AS_OWNER, asRepositoryOwner, repositoryOwner } from '../files/repository-owner.js';
import { endSessionsAndWait } from '../processes/sessions.js';
import { reportAudit, reportLastBackup } from '../reports/report-to-api.js';
import type { RootContext } from '../root-context.js';
import { configVersionBefore } from './config-history.js';
import { keepHostOut } from './host-lockout.js';
import { type RollBackResult, readTransactions, rollBackRepository } from './roll-back-repository.js';

/**
 * A host's repository, if the server may act on it: the host's name and UID
 * must be an account root made (a row is only a claim), and the repository
 * that account's own, since root ends the sessions of that UID and works in
 * the repository as its owner.
 */
function repositoryOf(context: RootContext, serverAccounts: ServerAccounts, name: string): { repository: string; account: ServerAccount } {
  const host = findHost(context.db, name);
  if (!host || host.status === 'purging') throw new AppError('NOT_FOUND', `no host named "${name}"`);
  const account = serverAccounts.accountOf(host);
  if (account === null) throw new AppError('UNSAFE_PATH', `host "${name}" has no account this server made: its repository is left alone`);
  const repository = repositoryPath(context.config.backupDir, name);
  const owner = repositoryOwner(repository);
  if (owner.uid !== account.uid)
    throw new AppError('UNSAFE_PATH', `refusing ${repository}: it is owned by UID ${owner.uid}, not the host's`);
  return { repository, account };
}

/** The commits an append-only repository has, newest first (as every list borgctl prints), to choose a restore point from. */
export function listRestorePoints(context: RootContext, serverAccounts: ServerAccounts, name: string) {
  return readTransactions(repositoryOf(context, serverAccounts, name).repository).reverse();
}

export interface RestoreResult extends RollBackResult {
  /** The repository's config (and key) was put back to the version the server kept from before the time. */
  configRestored: boolean;
  /** The newest backup the repository holds after the restore (null: none known). */
  lastBackupAt: Date | null;
}

/**
 * Undoes what a host wrote since `before` (a compromised VM's delete, prune,
 * junk or new repository key): ends its sessions and waits for them, removes
 * the lock they leave behind, rolls the repository back, and puts back the
 * config (with the repository key) the server kept from before that time.
 * An active host is kept out (no key line) for the whole time. The state
 * before the restore is kept beside it as a hard-link copy.
 */
export async function restoreHost(
  context: RootContext,
  serverAccounts: ServerAccounts,
  name: string,
  before: Date,
  by: Actor,
): Promise<RestoreResult> {
  const { repository, account } = repositoryOf(context, serverAccounts, name);
  // No login between the end of its sessions and the end of the rollback: a thief could write meanwhile.
  const lockout = await keepHostOut(context, name, by, 'restore');
  try {
    return await rollBackHost(context, name, repository, serverAccounts.only([account.uid]), before, by);
  } finally {
    await lockout.letIn();
  }
}

async function rollBackHost(context: RootContext, name: string, repository: string, uids: ServerUids, before: Date, by: Actor) {
  if (!(await endSessionsAndWait(uids))) {
    throw new AppError('BAD_REQUEST', `the sessions of host "${name}" did not end; try again`);
  }
  // As the repository's owner: the host may have made its lock a link (see roll-back-repository.ts).
  if (!asRepositoryOwner(repository, () => breakStaleLock(repository))) {
    throw new AppError('BAD_REQUEST', 'the repository is locked by a running borg; try again when it is done');
  }
  const result = rollBackRepository(repository, before, context.now());
  const configRestored = restoreConfig(context, name, repository, before);
  const now = context.now();
  const lastBackupAt = context.db.transaction((tx) => {
    // The host's last backup is the newest one the repository still holds, not the rolled-back one's.
    const newest = lastBackupKept(listBackupCommits(tx, name), result.keptTransactions, findBackupState(tx, name)?.lastBackupAt ?? null);
    updateBackupState(tx, now, name, { lastBackupAt: newest });
    reportLastBackup(tx, now, name, newest);
    reportAudit(tx, now, {
      actor: by.actor,
      action: 'host.restore',
      target: name,
      details: {
        before: before.toISOString(),
        transaction: result.transaction.id,
        removedFiles: result.removedFiles,
        keptCopy: result.keptCopy,
        configRestored,
        lastBackupAt: newest?.toISOString() ?? null,
      },
    });
    return newest;
  });
  return { ...result, configRestored, lastBackupAt };
}

function restoreConfig(context: RootContext, name: string, repository: string, before: Date): boolean {
  const kept = configVersionBefore(context.config.backupDir, name, before);
  const configPath = `${repository}/config`;
  // Written by the repository's owner, owner and mode as borg writes it; the replaced version stays in the kept copy.
  return asRepositoryOwner(repository, (owner) => {
    if (kept === null || readRegularFileIfExists(configPath, AS_OWNER) === kept) return false;
    writeFileAtomically(configPath, kept, { ...owner, mode: 0o600 });
    return true;
  });
}
