import { SANDBOX_STATE_DIR, type Sandbox } from './sandbox.js';
import { waitFor } from './wait-for.js';

/** Root's loops that run every second or faster: the session cap, the repository watch, the reports to the API. */
export const FAST_ROOT_LOOPS = ['session-limit', 'repository-watch', 'reports'] as const;

const LIVENESS_FILE = `${SANDBOX_STATE_DIR}/run/liveness.json`;

/**
 * Waits until root's own liveness report shows each of `loops` completing a
 * pass that began after `since` (two completions after it: the first may have
 * begun before). The positive marker for "root had its chance to act": a test
 * that asserts root did NOT do something waits for this, never for a time, which
 * a busy machine can spend before the loops ran at all.
 */
export async function waitForRootLoopPasses(sandbox: Sandbox, since: Date, loops: readonly string[] = FAST_ROOT_LOOPS): Promise<void> {
  const firstCompletion = await waitForCompletionsAfter(sandbox, since, loops);
  await waitForCompletionsAfter(sandbox, firstCompletion, loops);
}

async function waitForCompletionsAfter(sandbox: Sandbox, since: Date, loops: readonly string[]): Promise<Date> {
  let content = '';
  return waitFor(
    () => `root's loops (${loops.join(', ')}) to complete a pass after ${since.toISOString()}; ${LIVENESS_FILE} says:\n${content}`,
    async () => {
      content = await sandbox.readFile(LIVENESS_FILE).catch(() => '');
      let report: { loops?: Record<string, { lastCompletedAt?: string | null }> };
      try {
        report = JSON.parse(content);
      } catch {
        return undefined;
      }
      const completions = loops.map((loop) => report.loops?.[loop]?.lastCompletedAt);
      if (!completions.every((at) => typeof at === 'string' && new Date(at) > since)) return undefined;
      return new Date(Math.max(...completions.map((at) => new Date(at as string).getTime())));
    },
  );
}
