/**
 * How long to wait after each failed attempt, as the Standard Webhooks spec
 * suggests: the first attempt is at once, then these six; after the last, failed.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000];

/** When to try again after attempt number `attempts` (1 for the first) failed, or null: give up. */
export function nextAttemptAfterFailure(attempts: number, failedAt: Date, scheduleMs: readonly number[]): Date | null {
  const delayMs = scheduleMs[attempts - 1];
  return delayMs === undefined ? null : new Date(failedAt.getTime() + delayMs);
}
