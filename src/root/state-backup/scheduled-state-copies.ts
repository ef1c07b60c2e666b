import { readdirSync, rmSync } from 'node:fs';
import { copiesBeyondKept, nextCopyDelayMs, STATE_COPIES_DIRECTORY, stateCopyFileName } from '../../domain/state-copy-schedule.js';
import type { Logger } from '../../log.js';
import type { Run } from '../../process/run.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { ensureDirectory } from '../files/directories.js';
import { makeServerStateCopy } from './server-state-copy.js';

export interface ScheduledStateCopies {
  /** Stops the timer and ends a copy in progress (its API process included); resolves once it has. */
  stop(): Promise<void>;
}

/**
 * Root's own copies of the server state, into BACKUP/.server-state/
 * (root-only, 0700; a host's directory can never have that name), one per
 * interval, the newest `keep` kept: the volume an admin already copies off
 * the machine then holds what a restore needs. One log line per copy; a
 * failed copy is logged and the next one is tried an interval later.
 */
export function startScheduledStateCopies(options: {
  stateDir: string;
  backupDir: string;
  intervalSeconds: number | null;
  keep: number;
  apiAccount: { uid: number; gid: number };
  serverVersion: string;
  logger: Logger;
  run: Run;
  now: () => Date;
}): ScheduledStateCopies {
  const { intervalSeconds, keep, logger, now } = options;
  if (intervalSeconds === null) {
    logger.info('server state copies are off (BORG_SERVER_STATE_BACKUP_INTERVAL=off)');
    return { stop: async () => {} };
  }
  const directory = `${options.backupDir}/${STATE_COPIES_DIRECTORY}`;
  const intervalMs = intervalSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  let inProgress: Promise<void> | undefined;
  let cancel: AbortController | undefined;
  let isStopped = false;

  const listCopies = () => readdirSync(directory);

  async function copyOnce(): Promise<void> {
    const startedAt = performance.now();
    const at = now();
    cancel = new AbortController();
    const signal = cancel.signal;
    const cancellableRun: Run = (file, arguments_, runOptions) => options.run(file, arguments_, { ...runOptions, cancelSignal: signal });
    const archive = await makeServerStateCopy({
      stateDir: options.stateDir,
      apiAccount: options.apiAccount,
      serverVersion: options.serverVersion,
      now: at,
      run: cancellableRun,
    });
    if (signal.aborted) return;
    const path = `${directory}/${stateCopyFileName(at)}`;
    writeFileAtomically(path, archive, { uid: 0, gid: 0, mode: 0o600 });
    const removed = copiesBeyondKept(listCopies(), keep);
    for (const name of removed) rmSync(`${directory}/${name}`, { force: true });
    logger.info(
      { path, bytes: archive.length, removed: removed.length, ms: Math.round(performance.now() - startedAt) },
      'server state copied',
    );
  }

  function schedule(delayMs: number): void {
    if (isStopped) return;
    timer = setTimeout(() => {
      inProgress = copyOnce()
        .catch((error: unknown) => {
          if (!isStopped) logger.error({ err: error, directory }, 'server state copy failed; the next is tried one interval later');
        })
        .finally(() => {
          inProgress = undefined;
          schedule(intervalMs);
        });
    }, delayMs);
  }

  try {
    ensureDirectory(directory, { uid: 0, gid: 0, mode: 0o700 });
    schedule(nextCopyDelayMs(listCopies(), intervalMs, now()));
  } catch (error) {
    logger.error({ err: error, directory }, 'server state copies are off: their directory could not be made');
  }

  return {
    async stop() {
      isStopped = true;
      clearTimeout(timer);
      cancel?.abort();
      await inProgress;
    },
  };
}
