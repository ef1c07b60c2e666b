import { recordAudit } from '../audit/audit-log.js';
import type { Actor, ServerContext } from '../context.js';
import { repositoryPath } from '../domain/authorized-keys.js';
import { findHost } from '../enrollment/hosts-store.js';
import { AppError } from '../errors.js';
import { endSessionsOf } from '../provision/sessions.js';
import { type RollBackResult, readTransactions, rollBackRepository } from './roll-back-repository.js';

function repositoryOf(context: ServerContext, name: string): { repository: string; uid: number } {
  const host = findHost(context.db, name);
  if (!host || host.status === 'purging') throw new AppError('NOT_FOUND', `no host named "${name}"`);
  return { repository: repositoryPath(context.config.backupDir, name), uid: host.uid };
}

/** The commits an append-only repository has, to choose a restore point from. */
export function listRestorePoints(context: ServerContext, name: string) {
  return readTransactions(repositoryOf(context, name).repository);
}

/**
 * Undoes what a host wrote since `before` (a compromised VM's delete, prune
 * or junk): ends its sessions, then rolls the repository back. The state
 * before the restore is kept beside it as a hard-link copy.
 */
export function restoreHost(context: ServerContext, name: string, before: Date, by: Actor): RollBackResult {
  const { repository, uid } = repositoryOf(context, name);
  endSessionsOf(new Set([uid]));
  const result = rollBackRepository(repository, before, context.now());
  recordAudit(context.db, context.now(), {
    ...by,
    action: 'host.restore',
    target: name,
    details: {
      before: before.toISOString(),
      transaction: result.transaction.id,
      removedFiles: result.removedFiles,
      keptCopy: result.keptCopy,
    },
  });
  return result;
}
