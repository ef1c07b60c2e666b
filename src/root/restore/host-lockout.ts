import { and, eq } from 'drizzle-orm';
import { hosts } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { reportAudit, reportHost } from '../reports/report-to-api.js';
import type { RootContext } from '../root-context.js';

export interface HostLockout {
  /** Lets the host in again, unless someone changed its status meanwhile (an admin who disabled it keeps it disabled). */
  letIn(): Promise<void>;
}

/**
 * Keeps an active host from logging in while the server works on its
 * repository (a restore): its key line goes and its sessions end, as when an
 * admin disables it. If the work is cut short by a crash, the host stays
 * disabled: the safe side, and the admin sees why in the audit log.
 */
export async function keepHostOut(context: RootContext, name: string, by: Actor, reason: string): Promise<HostLockout> {
  const lockedAt = context.now();
  const hasLockedOut = context.db.transaction((tx) => {
    const changed = tx
      .update(hosts)
      .set({ status: 'disabled', updatedAt: lockedAt })
      .where(and(eq(hosts.name, name), eq(hosts.status, 'active')))
      .returning()
      .get();
    if (!changed) return false;
    reportHost(tx, lockedAt, changed);
    reportAudit(tx, lockedAt, { actor: by.actor, action: 'host.lock-out', target: name, details: { reason } });
    return true;
  });
  if (hasLockedOut) await context.requestReconcile();
  return {
    async letIn() {
      if (!hasLockedOut) return;
      const now = context.now();
      const hasLetIn = context.db.transaction((tx) => {
        const changed = tx
          .update(hosts)
          .set({ status: 'active', updatedAt: now })
          .where(and(eq(hosts.name, name), eq(hosts.status, 'disabled'), eq(hosts.updatedAt, lockedAt)))
          .returning()
          .get();
        if (!changed) return false;
        reportHost(tx, now, changed);
        reportAudit(tx, now, { actor: by.actor, action: 'host.let-in', target: name, details: { reason } });
        return true;
      });
      if (hasLetIn) await context.requestReconcile();
    },
  };
}
