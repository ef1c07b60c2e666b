import { AppError } from '../errors.js';

export type EnrollmentStatus = 'pending' | 'approved' | 'denied' | 'expired';
export type EnrollmentDecision = 'approve' | 'deny';

/** How long a VM's request waits for an admin before it lapses. */
export const PENDING_ENROLLMENT_TTL_MS = 7 * 86400 * 1000;

/** The status a stored enrollment has now: a pending one past its time has expired. */
export function effectiveStatus(enrollment: { status: EnrollmentStatus; expiresAt: Date }, now: Date): EnrollmentStatus {
  if (enrollment.status === 'pending' && enrollment.expiresAt.getTime() <= now.getTime()) return 'expired';
  return enrollment.status;
}

/** pending ──approve──► approved, pending ──deny──► denied; nothing else moves. */
export function nextStatus(current: EnrollmentStatus, decision: EnrollmentDecision): EnrollmentStatus {
  if (current !== 'pending') {
    throw new AppError('ENROLLMENT_NOT_PENDING', `enrollment is ${current}, not pending`);
  }
  return decision === 'approve' ? 'approved' : 'denied';
}
