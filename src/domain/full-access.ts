import { AppError } from '../errors.js';
import { parseDurationSeconds } from './durations.js';

/**
 * A full-access window: for a while, an append-only host's forced command
 * drops --append-only, so that the VM can prune and compact its own
 * repository; when the window ends, the supervisor puts --append-only back
 * and ends the sessions still open. A window is never open-ended: an admin
 * who wants a host to prune itself for good sets `appendOnly: false`.
 */
export const MAX_FULL_ACCESS_SECONDS = 7 * 86_400;

export interface FullAccessSettings {
  appendOnly: boolean;
  fullAccessUntil: Date | null;
}

/** When a window asked for now with this duration ("2h", seconds) ends. */
export function fullAccessEnd(duration: unknown, now: Date): Date {
  const seconds = parseDurationSeconds(duration);
  if (seconds > MAX_FULL_ACCESS_SECONDS) {
    throw new AppError('INVALID_DURATION', `a full-access window lasts at most ${MAX_FULL_ACCESS_SECONDS / 86_400} days`);
  }
  return new Date(now.getTime() + seconds * 1000);
}

export function isFullAccessOpen(host: FullAccessSettings, now: Date): boolean {
  return host.fullAccessUntil !== null && host.fullAccessUntil.getTime() > now.getTime();
}

/** Whether the host's forced command carries --append-only now. */
export function isAppendOnlyNow(host: FullAccessSettings, now: Date): boolean {
  return host.appendOnly && !isFullAccessOpen(host, now);
}

/** The next moment one of these windows ends (the supervisor reconciles then), or null. */
export function nextFullAccessEnd(hosts: readonly FullAccessSettings[], now: Date): Date | null {
  let next: Date | null = null;
  for (const host of hosts) {
    if (!host.appendOnly || !isFullAccessOpen(host, now)) continue;
    if (next === null || (host.fullAccessUntil as Date) < next) next = host.fullAccessUntil;
  }
  return next;
}
