import { and, eq } from 'drizzle-orm';
import { recordAudit } from '../audit/audit-log.js';
import type { Actor, ServerContext } from '../context.js';
import { hosts } from '../db/schema.js';

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
export async function keepHostOut(context: ServerContext, name: string, by: Actor, reason: string): Promise<HostLockout> {
  const lockedAt = context.now();
  const hasLockedOut = context.db.transaction((tx) => {
    const changed = tx
      .update(hosts)
      .set({ status: 'disabled', updatedAt: lockedAt })
      .where(and(eq(hosts.name, name), eq(hosts.status, 'active')))
      .run();
    if (changed.changes === 0) return false;
    recordAudit(tx, lockedAt, { ...by, action: 'host.lock-out', target: name, details: { reason } });
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
          .run();
        if (changed.changes === 0) return false;
        recordAudit(tx, now, { ...by, action: 'host.let-in', target: name, details: { reason } });
        return true;
      });
      if (hasLetIn) await context.requestReconcile();
    },
  };
}
