import { eq } from 'drizzle-orm';
import { enrollments } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { effectiveStatus, nextStatus } from '../../domain/enrollment-state.js';
import { AppError } from '../../errors.js';
import { allocateUid, findHost, findNameHolder } from '../../host-records/hosts-store.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { copyRootAnswer } from '../hosts/root-answers.js';
import { enqueueEvent } from '../notify/queue.js';
import { INTERRUPTED_APPROVAL_ACTOR } from './interrupted-approvals.js';

export interface ApproveRequest {
  /** The fingerprint the admin read from the VM; another one is refused. */
  fingerprint: string;
  /** Needed when a host (or a deleted host's kept repository) has the name: approving then replaces its key. */
  replaceKey?: boolean;
}

/**
 * An approval refused because a host (or a deleted host's kept repository) has the name. The message names
 * how to replace the key: the API's field, or what the caller passes (the CLI's flag) to `describe`.
 */
export class HostExistsError extends AppError {
  readonly hostName: string;
  readonly holder: { status: string; fingerprint: string };
  constructor(hostName: string, holder: { status: string; fingerprint: string }) {
    super('HOST_EXISTS', describeHostExists(hostName, holder, 'replaceKey'));
    this.hostName = hostName;
    this.holder = holder;
  }

  /** The message, naming `replaceOption` as the way to give the host this key. */
  describe(replaceOption: string): string {
    return describeHostExists(this.hostName, this.holder, replaceOption);
  }
}

function describeHostExists(hostName: string, holder: { status: string; fingerprint: string }, replaceOption: string): string {
  const what =
    holder.status === 'deleted'
      ? `was deleted but its repository is kept; purge it first, or approve with ${replaceOption} to give the repository to this key`
      : `already exists with key ${holder.fingerprint}; approve with ${replaceOption} to give it this key`;
  return `host "${hostName}" ${what}`;
}

function loadPending(context: ServerContext, tx: Parameters<Parameters<ServerContext['db']['transaction']>[0]>[0], id: string) {
  const row = tx.select().from(enrollments).where(eq(enrollments.id, id)).get();
  if (!row) throw new AppError('NOT_FOUND', 'no such enrollment');
  const status = effectiveStatus(row, context.now());
  if (status === 'expired' && row.status === 'pending') {
    tx.update(enrollments).set({ status: 'expired' }).where(eq(enrollments.id, id)).run();
  }
  return { row, status };
}

export async function approveEnrollment(context: ServerContext, id: string, request: ApproveRequest, by: Actor) {
  const { row, existing } = context.db.transaction((tx) => {
    const { row, status } = loadPending(context, tx, id);
    if (status !== 'pending') throw new AppError('ENROLLMENT_NOT_PENDING', `enrollment is ${status}, not pending`);
    if (request.fingerprint !== row.fingerprint) {
      throw new AppError('FINGERPRINT_MISMATCH', 'the fingerprint does not match the key this enrollment sent');
    }
    const existing = findNameHolder(tx, row.hostName);
    if (existing && !request.replaceKey) throw new HostExistsError(row.hostName, existing);
    return { row, existing };
  });
  // Root makes the host (or gives it this key) first; the enrollment is approved here once root said yes.
  const answer = await context.changeHost({
    action: 'put-key',
    name: row.hostName,
    keyType: row.keyType,
    keyBase64: row.keyBase64,
    appendOnly: row.appendOnly,
    quotaBytes: row.quotaBytes,
    allowFrom: row.allowFrom,
    expectBackupEveryMs: row.expectBackupEveryMs,
    origin: 'enrollment',
    enrollmentId: row.id,
    ...(existing ? {} : { uidHint: allocateUid(context.db) }),
  });
  const now = context.now();
  context.db.transaction((tx) => {
    copyRootAnswer(tx, row.hostName, answer);
    // The API restarted meanwhile and completed this approval itself (interrupted-approvals.ts): done.
    const decided = tx.select({ decidedBy: enrollments.decidedBy }).from(enrollments).where(eq(enrollments.id, id)).get();
    if (decided?.decidedBy === INTERRUPTED_APPROVAL_ACTOR) return;
    // Two approvals at once: root gave the host the same key twice; the enrollment is approved once.
    const { status } = loadPending(context, tx, id);
    if (status !== 'pending') throw new AppError('ENROLLMENT_NOT_PENDING', `enrollment is ${status}, not pending`);
    tx.update(enrollments)
      .set({ status: nextStatus(status, 'approve'), decidedAt: now, decidedBy: by.actor })
      .where(eq(enrollments.id, id))
      .run();
    recordAudit(tx, now, {
      ...by,
      action: existing ? 'enrollment.approve.rekey' : 'enrollment.approve',
      target: id,
      details: {
        host: row.hostName,
        fingerprint: row.fingerprint,
        uid: answer.row?.uid ?? null,
        previousFingerprint: existing?.fingerprint ?? null,
      },
    });
    enqueueEvent(tx, now, {
      type: 'enrollment.approved',
      host: row.hostName,
      data: { enrollmentId: id, fingerprint: row.fingerprint, replacedKey: existing !== undefined, by: by.actor },
    });
  });
  const host = findHost(context.db, row.hostName);
  if (!host) throw new AppError('RECONCILE_FAILED', 'the server did not keep the host');
  return host;
}

export function denyEnrollment(context: ServerContext, id: string, reason: string | null, by: Actor): void {
  const now = context.now();
  context.db.transaction((tx) => {
    const { row, status } = loadPending(context, tx, id);
    tx.update(enrollments)
      .set({ status: nextStatus(status, 'deny'), reason, decidedAt: now, decidedBy: by.actor })
      .where(eq(enrollments.id, id))
      .run();
    recordAudit(tx, now, { ...by, action: 'enrollment.deny', target: id, details: { host: row.hostName, reason } });
    enqueueEvent(tx, now, {
      type: 'enrollment.denied',
      host: row.hostName,
      data: { enrollmentId: id, fingerprint: row.fingerprint, reason, by: by.actor },
    });
  });
}
