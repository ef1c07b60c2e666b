import type { Logger } from '../../log.js';
import type { Child } from '../../process/run.js';

/** A child that ran this long had started properly: its death is not a crash loop. */
const STABLE_RUN_MS = 10_000;

export interface SupervisedChild {
  current(): Child | null;
  /** Milliseconds the current child has run (monotonic clock), or null while none runs. */
  upForMs(): number | null;
  /** How many times a child has exited and was started again. */
  restarts(): number;
  /** Sends SIGTERM and waits (SIGKILL after `graceMs`); no restart afterwards. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Keeps one child running: when it dies, it is started again after a delay
 * that doubles up to 30 s, for a child that keeps failing soon after it
 * starts; one that ran for 10 s had come up, and is started again after 1 s
 * (an API killed now and then must not stay down for half a minute).
 * `records` keeps the running child's identity on disk (child-records.ts).
 */
export function superviseChild(
  name: string,
  start: () => Child,
  logger: Logger,
  /** Told when a child has started or exited (the fault watch looks at once). */
  onChange: () => void = () => {},
  records?: { record(name: string, pid: number): void; forget(name: string): void },
): SupervisedChild {
  let child: Child | null = null;
  let startedAtMs = 0;
  let restarts = 0;
  let isStopping = false;
  let delayMs = 1000;
  let restartTimer: NodeJS.Timeout | null = null;

  function launch() {
    const startedAt = Date.now();
    const running = start();
    child = running;
    startedAtMs = performance.now();
    logger.info({ child: name, pid: running.pid }, 'started');
    onChange();
    // Recorded so that a serve started after this one was killed with -9 can end it.
    if (running.pid !== undefined) records?.record(name, running.pid);
    running.then((result) => {
      if (child === running) {
        child = null;
        records?.forget(name);
      }
      if (isStopping) return;
      if (Date.now() - startedAt > STABLE_RUN_MS) delayMs = 1000;
      logger.error({ child: name, exitCode: result.exitCode, signal: result.signal, restartInMs: delayMs }, 'exited; restarting');
      restarts += 1;
      restartTimer = setTimeout(launch, delayMs);
      delayMs = Math.min(delayMs * 2, 30_000);
      onChange();
    });
  }
  launch();

  return {
    current: () => child,
    upForMs: () => (child === null ? null : performance.now() - startedAtMs),
    restarts: () => restarts,
    async stop(graceMs) {
      isStopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const running = child;
      if (!running) return;
      running.kill('SIGTERM');
      const killTimer = setTimeout(() => running.kill('SIGKILL'), graceMs);
      await running;
      clearTimeout(killTimer);
    },
  };
}
