import { and, eq } from 'drizzle-orm';
import type { Queryable } from '../../db/connection.js';
import { enrollments, hosts } from '../../db/schema.js';
import { recordAudit } from '../audit/audit-log.js';
import { enqueueEvent } from '../notify/queue.js';

/** Who approved an enrollment whose approval a crash cut short (the admin's request got no answer). */
export const INTERRUPTED_APPROVAL_ACTOR = 'server:approval-completed-after-restart';

/**
 * An approval asks root for the host first and marks the enrollment
 * approved after root's answer (decisions.ts). A crash in between (the API
 * or the supervisor killed) leaves root's host, with this enrollment's id
 * and key, beside an enrollment still pending: approving it again would be
 * refused (the host exists). Once the API has root's rows again, such an
 * enrollment is marked approved, with its audit entry and event, so the
 * state converges to what the admin asked. Returns the enrollment ids.
 */
export function completeInterruptedApprovals(db: Queryable, now: Date): string[] {
  const interrupted = db
    .select({ enrollment: enrollments, host: hosts })
    .from(enrollments)
    .innerJoin(hosts, and(eq(hosts.enrollmentId, enrollments.id), eq(hosts.name, enrollments.hostName)))
    .where(eq(enrollments.status, 'pending'))
    .all()
    .filter(({ enrollment, host }) => host.fingerprint === enrollment.fingerprint && host.origin === 'enrollment');
  for (const { enrollment, host } of interrupted) {
    db.update(enrollments)
      .set({ status: 'approved', decidedAt: now, decidedBy: INTERRUPTED_APPROVAL_ACTOR })
      .where(and(eq(enrollments.id, enrollment.id), eq(enrollments.status, 'pending')))
      .run();
    recordAudit(db, now, {
      actor: INTERRUPTED_APPROVAL_ACTOR,
      action: 'enrollment.approve',
      target: enrollment.id,
      details: { host: host.name, fingerprint: enrollment.fingerprint, uid: host.uid, completedAfterRestart: true },
    });
    enqueueEvent(db, now, {
      type: 'enrollment.approved',
      host: host.name,
      data: {
        enrollmentId: enrollment.id,
        fingerprint: enrollment.fingerprint,
        // A host older than the enrollment had another key before.
        replacedKey: host.createdAt.getTime() < enrollment.createdAt.getTime(),
        by: INTERRUPTED_APPROVAL_ACTOR,
      },
    });
  }
  return interrupted.map(({ enrollment }) => enrollment.id);
}
