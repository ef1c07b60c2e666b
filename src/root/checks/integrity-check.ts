import { existsSync, lstatSync } from 'node:fs';
import { inArray } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import { repositoryPath } from '../../domain/authorized-keys.js';
import {
  borgCheckCommand,
  borgCheckEnvironment,
  CHECK_SLICE_SECONDS,
  CHECK_TIMEOUT_MARGIN_SECONDS,
  checkScratchDir,
  IONICE,
  type ParsedCheck,
  parseBorgCheckResult,
} from '../../domain/borg-check.js';
import { chooseHostToCheck } from '../../domain/check-schedule.js';
import { isValidHostName } from '../../domain/host-name.js';
import { AppError } from '../../errors.js';
import {
  closeUnfinishedChecks,
  lastCheckOf,
  type RepositoryCheckRow,
  recordCheckEnd,
  recordCheckStart,
} from '../../host-records/repository-checks.js';
import type { Logger } from '../../log.js';
import { CommandFailed, type Run } from '../../process/run.js';
import type { ServerAccounts } from '../accounts/server-accounts.js';
import { ensureDirectory } from '../files/directories.js';
import { repositoryOwner } from '../files/repository-owner.js';
import { uidsInSession } from '../processes/sessions.js';
import { acceptedHostRows } from '../reconcile/accepted-host-rows.js';
import { reportAudit, reportCheck, reportEvent } from '../reports/report-to-api.js';

/**
 * The server's own check of every repository: `borg check --repository-only`
 * (no key needed) on each host's schedule, one at a time for the whole
 * server, at the lowest CPU and I/O priority, in slices that resume where
 * the last one stopped. A check holds the repository's exclusive lock, so it
 * starts only when its host has no session, and ends (SIGTERM, then SIGKILL)
 * as soon as one begins: the backup gets the lock (borg's client waits a
 * second for it). It runs as the host's own UID, never as root: borg follows
 * whatever links the host left in its repository.
 */

/** How often the supervisor asks whether a check is due. */
export const CHECK_SCHEDULE_INTERVAL_MS = 60_000;
/** How often a running check looks for a session of its host. */
export const CHECK_SESSION_POLL_MS = 250;
/** Admin requests waiting at once, at most (each names a host; one check runs at a time). */
const MAX_REQUESTED_CHECKS = 10_000;
/** SIGTERM lets borg release its lock; SIGKILL after this. */
const FORCE_KILL_AFTER_MS = 3000;

export interface IntegrityChecks {
  /** Starts the check that is due (an admin's request first), unless one runs; resolves when it ended. */
  tick(): Promise<RepositoryCheckRow | null>;
  /**
   * Queues a check of this host, run as soon as no other check runs and it has no session; NO_REPOSITORY_YET
   * when its VM has not run borg init (checkNow too).
   */
  request(hostName: string): void;
  /** Checks this host now (after a check that runs ends) and returns the result. */
  checkNow(hostName: string): Promise<RepositoryCheckRow>;
  /** The process ids of the running check: the server's, not a session of the host. */
  ownPids(): ReadonlySet<number>;
  /** Ends a running check (recorded as interrupted) and waits for it. */
  stop(): Promise<void>;
}

export interface IntegrityCheckOptions {
  db: Db;
  backupDir: string;
  stateDir: string;
  logger: Logger;
  now: () => Date;
  run: Run;
  /** Which accounts root made: borg runs as, and /proc is scanned for, only those. */
  serverAccounts: ServerAccounts;
  procDir?: string;
  sliceSeconds?: number;
  pollMs?: number;
}

type HostRow = typeof hosts.$inferSelect;

export function createIntegrityChecks(options: IntegrityCheckOptions): IntegrityChecks {
  const { db, backupDir, stateDir, logger, now, run, serverAccounts, procDir = '/proc' } = options;
  const sliceSeconds = options.sliceSeconds ?? CHECK_SLICE_SECONDS;
  const pollMs = options.pollMs ?? CHECK_SESSION_POLL_MS;
  const hasIonice = existsSync(IONICE);
  const requested = new Set<string>();
  const pids = new Set<number>();
  let running: Promise<RepositoryCheckRow> | null = null;
  let endRunning: ((reason: string) => void) | null = null;
  let isStopped = false;
  db.transaction((tx) => {
    for (const closed of closeUnfinishedChecks(tx, now())) reportCheck(tx, now(), closed);
  });

  /**
   * Hosts whose repositories exist to check: rows are checked again (see
   * acceptedHostRows), and borg runs only as an account root made.
   */
  function checkableHosts(): HostRow[] {
    const rows = db
      .select()
      .from(hosts)
      .where(inArray(hosts.status, ['active', 'disabled']))
      .all();
    return serverAccounts.onlyHosts(acceptedHostRows(rows, backupDir).accepted);
  }

  function finish(checkId: number, hostName: string, result: ParsedCheck): RepositoryCheckRow {
    const at = now();
    const row = db.transaction((tx) => {
      const ended = recordCheckEnd(tx, checkId, at, result);
      reportCheck(tx, at, ended);
      if (result.outcome === 'failed') {
        const data = { checkId, detail: result.detail };
        reportAudit(tx, at, { action: 'host.check.failed', target: hostName, details: data });
        reportEvent(tx, at, { type: 'host.check.failed', host: hostName, data });
      }
      return ended;
    });
    const log = { host: hostName, outcome: result.outcome, detail: result.detail };
    if (result.outcome === 'failed' || result.outcome === 'error') logger.error(log, 'repository check');
    else logger.info(log, 'repository check');
    return row;
  }

  async function checkHost(host: HostRow): Promise<RepositoryCheckRow> {
    const checkId = db.transaction((tx) => {
      const started = recordCheckStart(tx, host.name, now());
      reportCheck(tx, started.startedAt, started);
      return started.id;
    });
    const repository = repositoryPath(backupDir, host.name);
    let owner: { uid: number; gid: number };
    try {
      owner = repositoryOwner(repository);
      if (owner.uid !== host.uid) throw new AppError('UNSAFE_PATH', `the repository is owned by UID ${owner.uid}, not the host's`);
      const scratch = checkScratchDir(stateDir, host.name);
      ensureDirectory(`${stateDir}/checks`, { uid: 0, gid: 0, mode: 0o711 });
      ensureDirectory(scratch, { uid: owner.uid, gid: owner.gid, mode: 0o700 });
      return await runBorgCheck(checkId, host, repository, owner, scratch);
    } catch (error) {
      const detail = error instanceof AppError ? error.message : 'the check could not start; see the server log';
      if (!(error instanceof AppError)) logger.error({ err: error, host: host.name }, 'repository check could not start');
      return finish(checkId, host.name, { outcome: 'error', detail: detail.slice(0, 500), isPartial: false });
    }
  }

  async function runBorgCheck(
    checkId: number,
    host: HostRow,
    repository: string,
    owner: { uid: number; gid: number },
    scratch: string,
  ): Promise<RepositoryCheckRow> {
    const abort = new AbortController();
    let endReason: string | null = null;
    endRunning = (reason) => {
      endReason ??= reason;
      abort.abort();
    };
    const uids = serverAccounts.only([host.uid]);
    const poll = setInterval(() => {
      if (uidsInSession(uids, procDir, pids).size > 0) endRunning?.('ended: a backup session of the host began');
    }, pollMs);
    const command = borgCheckCommand(repository, { maxDurationSeconds: sliceSeconds, hasIonice });
    let result: ParsedCheck;
    try {
      const output = await run(command.file, command.arguments, {
        timeoutMs: (sliceSeconds + CHECK_TIMEOUT_MARGIN_SECONDS) * 1000,
        env: borgCheckEnvironment(scratch),
        uid: owner.uid,
        gid: owner.gid,
        cwd: scratch,
        cancelSignal: abort.signal,
        forceKillAfterMs: FORCE_KILL_AFTER_MS,
        onStart: (pid) => pids.add(pid),
      });
      result = parseBorgCheckResult({ exitCode: 0, stderr: output.stderr, wasEnded: false, timedOut: false });
    } catch (error) {
      if (!(error instanceof CommandFailed)) throw error;
      result = parseBorgCheckResult({
        exitCode: error.exitCode,
        stderr: error.stderr,
        wasEnded: error.isCanceled || endReason !== null,
        timedOut: error.timedOut,
      });
      if (result.outcome === 'interrupted' && endReason) result = { ...result, detail: endReason };
    } finally {
      clearInterval(poll);
      pids.clear();
      endRunning = null;
    }
    return finish(checkId, host.name, result);
  }

  /** One check at a time, for the whole server. */
  function start(host: HostRow): Promise<RepositoryCheckRow> {
    requested.delete(host.name);
    const started = checkHost(host).finally(() => {
      running = null;
      // An admin's request that waited for this check.
      if (requested.size > 0)
        setImmediate(() => void tick().catch((error: unknown) => logger.error({ err: error }, 'repository check failed')));
    });
    running = started;
    return started;
  }

  /** The repository has borg's config file: the VM ran `borg init`. Not followed: a link the host left is no repository. */
  function hasRepository(hostName: string): boolean {
    return lstatSync(`${repositoryPath(backupDir, hostName)}/config`, { throwIfNoEntry: false })?.isFile() === true;
  }

  function refuseWithoutRepository(hostName: string): void {
    if (!hasRepository(hostName)) {
      throw new AppError('NO_REPOSITORY_YET', `host "${hostName}" has no repository yet: its VM has not run borg init; nothing to check`);
    }
  }

  async function tick(): Promise<RepositoryCheckRow | null> {
    if (running || isStopped) return null;
    const candidates = checkableHosts();
    const withRepository = new Set(candidates.filter((row) => hasRepository(row.name)).map((row) => row.name));
    // An admin's request for a host that has none yet (asked before its first backup) is dropped, not kept waiting.
    for (const name of requested) if (!withRepository.has(name)) requested.delete(name);
    const inSession = uidsInSession(serverAccounts.only(candidates.map((row) => row.uid)), procDir, pids);
    const current = now();
    const chosen = chooseHostToCheck(
      candidates.map((row) => ({
        name: row.name,
        checkEverySeconds: row.checkEverySeconds,
        last: lastCheckOf(db, row.name),
        isInSession: inSession.has(row.uid),
        isRequested: requested.has(row.name),
        hasRepository: withRepository.has(row.name),
      })),
      current,
    );
    const host = candidates.find((row) => row.name === chosen);
    return host ? start(host) : null;
  }

  return {
    tick,
    request(hostName) {
      // The names come from the unprivileged API: only a host's name, and never an unbounded set.
      if (!isValidHostName(hostName) || requested.size >= MAX_REQUESTED_CHECKS) return;
      refuseWithoutRepository(hostName);
      requested.add(hostName);
      tick().catch((error: unknown) => logger.error({ err: error }, 'repository check failed'));
    },
    async checkNow(hostName) {
      while (running) await running.catch(() => undefined);
      if (isStopped) throw new AppError('CHECK_UNAVAILABLE', 'the server is stopping');
      const host = checkableHosts().find((row) => row.name === hostName);
      if (!host) throw new AppError('NOT_FOUND', `no host named "${hostName}"`);
      refuseWithoutRepository(hostName);
      if (uidsInSession(serverAccounts.only([host.uid]), procDir, pids).size > 0) {
        throw new AppError('HOST_IN_SESSION', `host "${hostName}" has a borg session open; its check waits until it ends`);
      }
      return start(host);
    },
    ownPids: () => pids,
    async stop() {
      isStopped = true;
      endRunning?.('the server stopped during the check');
      await running?.catch(() => undefined);
    },
  };
}
