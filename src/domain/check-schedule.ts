import { AppError } from '../errors.js';
import { parseDurationSeconds } from './durations.js';

/**
 * When the server checks a host's repository (borg check --repository-only).
 * Pure: the rows and the clock come in, a decision goes out.
 */

/** A host's repository is checked once a week unless the admin says otherwise. */
export const DEFAULT_CHECK_EVERY_SECONDS = 7 * 86_400;
/** The shortest schedule an admin may set: a check is slow, and it holds the repository's lock. */
export const MIN_CHECK_EVERY_SECONDS = 3600;
/** The longest: a year. */
export const MAX_CHECK_EVERY_SECONDS = 366 * 86_400;
/** A check cut short (a backup came, or the slice ran out) goes on after this pause. */
export const CHECK_RESUME_AFTER_SECONDS = 15 * 60;
/** A check that could not run at all is tried again after this, or at its schedule if sooner. */
export const CHECK_RETRY_AFTER_SECONDS = 3600;

export type CheckOutcome = 'ok' | 'failed' | 'interrupted' | 'error';

/** What the schedule needs of a host's last check. */
export interface LastCheck {
  endedAt: Date | null;
  outcome: CheckOutcome | null;
  /** An ok slice that stopped before the last segment: the check is not done. */
  isPartial: boolean;
}

/** `--check-every 7d`, a number of seconds, or "none" (null: no scheduled checks). */
export function parseCheckEvery(value: unknown): number | null {
  if (value === null || value === 'none') return null;
  const seconds = parseDurationSeconds(value);
  if (seconds < MIN_CHECK_EVERY_SECONDS || seconds > MAX_CHECK_EVERY_SECONDS) {
    throw new AppError('INVALID_DURATION', 'checkEvery must be from 1h to 366d, or "none"');
  }
  return seconds;
}

/**
 * When the host's next check (or the next slice of a check under way) is
 * due, or null when it has no schedule. A host never checked is due now.
 */
export function nextCheckDue(checkEverySeconds: number | null, last: LastCheck | null, now: Date): Date | null {
  if (checkEverySeconds === null) return null;
  if (!last) return now;
  // A check still running (or a server that died during one): from when it started.
  const endedAt = last.endedAt ?? now;
  const after = (seconds: number) => new Date(endedAt.getTime() + seconds * 1000);
  if (last.outcome === 'interrupted' || (last.outcome === 'ok' && last.isPartial)) return after(CHECK_RESUME_AFTER_SECONDS);
  if (last.outcome === 'error' || last.outcome === null) return after(Math.min(CHECK_RETRY_AFTER_SECONDS, checkEverySeconds));
  return after(checkEverySeconds);
}

export interface CheckCandidate {
  name: string;
  checkEverySeconds: number | null;
  last: LastCheck | null;
  /** The host has a borg session open: a check now would take the lock its backup needs. */
  isInSession: boolean;
  /** An admin asked for a check now. */
  isRequested: boolean;
  /**
   * The host's VM has run `borg init` (the repository has borg's config file). Until then there is
   * nothing to check, and `borg check` would only say "not a valid repository": never a failed check.
   */
  hasRepository: boolean;
}

/**
 * The host to check next, or null: one asked for by an admin first, then the
 * most overdue; never one with a session open, nor one with no repository yet.
 */
export function chooseHostToCheck(candidates: readonly CheckCandidate[], now: Date): string | null {
  const free = candidates.filter((candidate) => candidate.hasRepository && !candidate.isInSession);
  const requested = free.find((candidate) => candidate.isRequested);
  if (requested) return requested.name;
  let best: { name: string; dueAt: number } | null = null;
  for (const candidate of free) {
    const due = nextCheckDue(candidate.checkEverySeconds, candidate.last, now);
    if (due === null || due.getTime() > now.getTime()) continue;
    if (!best || due.getTime() < best.dueAt || (due.getTime() === best.dueAt && candidate.name < best.name)) {
      best = { name: candidate.name, dueAt: due.getTime() };
    }
  }
  return best?.name ?? null;
}
