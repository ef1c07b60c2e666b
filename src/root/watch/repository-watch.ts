import { statSync } from 'node:fs';
import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import { repositoryPath } from '../../domain/authorized-keys.js';
import { judgeQuota, type QuotaVerdict, segmentUsage } from '../../domain/borg-segments.js';
import { isConfigChurning } from '../../domain/config-versions.js';
import { isFullAccessOpen } from '../../domain/full-access.js';
import type { RepositoryState } from '../../domain/session-outcome.js';
import type { Logger } from '../../log.js';
import type { ServerAccounts } from '../accounts/server-accounts.js';
import { type IndexFacts, readIndexFacts } from '../borg-files/borg-index-file.js';
import { removeUncommittedSegments } from '../borg-files/repository-files.js';
import { RACY_WINDOW_MS, repositoryStamp, stampOfPaths, wallClockNs } from '../borg-files/repository-stamp.js';
import { createSegmentScanner, type RepositoryScan, type SegmentScanner } from '../borg-files/segment-scan.js';
import { endSessionsOf, type HostProcessTable, processIdsInSession } from '../processes/sessions.js';
import { acceptedHostRows } from '../reconcile/accepted-host-rows.js';
import { reportAudit, reportEvent, reportHost } from '../reports/report-to-api.js';
import { configHistoryBytes, configHistoryDir, configVersionTimes, recordConfigVersion } from '../restore/config-history.js';
import type { KeyLogins } from '../sshd/key-logins.js';
import { createSessionTracker, type SessionTracker } from './session-tracker.js';

/** How often the watch looks for sessions (a /proc scan), and every how many looks it sweeps every repository. */
export const REPOSITORY_WATCH_INTERVAL_MS = 250;
export const REPOSITORY_WATCH_SWEEP_EVERY = 40;
/** How old a shared /proc scan a look may take: one made in the same timer turn. */
const SAME_TURN_SCAN_MS = 50;

export interface RepositoryWatchOptions {
  db: Db;
  backupDir: string;
  logger: Logger;
  now: () => Date;
  /** Applies a host's new status (disable): the supervisor's reconcile. */
  requestReconcile: () => Promise<void>;
  /** Which accounts root made: only their repositories are looked at and their processes counted or ended. */
  serverAccounts: ServerAccounts;
  procDir?: string;
  /** Reads the segments (tests pass one with a small budget). */
  scanner?: SegmentScanner;
  /** Records the sessions it sees (tests may pass their own). */
  sessions?: SessionTracker;
  /** The server's own processes running as a host (its repository check): no session of that host. */
  ownPids?: () => ReadonlySet<number>;
  /** A /proc scan shared with the session cap (absent: a scan of its own at each look). */
  processTable?: HostProcessTable;
  /** How long after a change a repository's stamp is not trusted (see repository-stamp.ts); tests may shorten it. */
  racyWindowMs?: number;
  /** The logins sshd logged (serve's keyLogins): which key opened a session whose command no look saw. */
  keyLogins?: KeyLogins;
}

type WatchedRow = Pick<
  typeof hosts.$inferSelect,
  'name' | 'uid' | 'status' | 'quotaBytes' | 'appendOnly' | 'fullAccessUntil' | 'updatedAt'
>;

export interface WatchedHost {
  name: string;
  verdict: QuotaVerdict | null;
  configRecorded: boolean;
}

export interface RepositoryWatch {
  /**
   * One look; `sweep` also looks at every repository whose directory changed
   * since the last sweep. Asynchronous, so that reading many segments never
   * holds up the supervisor; a look asked for while one runs gets that one
   * (and a sweep asked for meanwhile is the next look).
   */
  check(options?: { sweep?: boolean }): Promise<WatchedHost[]>;
  /**
   * The hosts changed (after a reconcile): read them again at the next look, or take `checkedRows`, rows acceptedHostRows accepted.
   * The next look reads every repository it looks at in full.
   */
  refreshHosts(checkedRows?: readonly WatchedRow[]): void;
}

/**
 * Looks, four times a second, at the repositories of hosts that have a
 * session (or had one at the last look): a /proc scan, so its cost follows the
 * hosts at work, not all hosts. Every ten seconds, and at the first look, a
 * sweep also looks at every repository whose directory changed (each borg
 * session adds and removes its lock files there), so that no session goes
 * unseen, however short. For each repository looked at:
 * - keeps a copy of every new version of its config (it holds the repository
 *   key, which borg lets a VM replace even in append-only mode), for
 *   `borgctl hosts restore`, within a cap (see CONFIG_HISTORY_LIMITS), and
 *   disables a host that churns it (see isConfigChurning);
 * - holds the storage quota on disk, in blocks and files (see judgeQuota and
 *   segment-scan.ts): ends the sessions of a transaction that goes past it,
 *   removes what such a session left behind, and disables a host whose
 *   committed data has filled it;
 * - tells the session tracker what it saw (the host's processes, the
 *   repository's state), which records each session when it ends.
 */
export function createRepositoryWatch(options: RepositoryWatchOptions): RepositoryWatch {
  const {
    db,
    backupDir,
    logger,
    now,
    requestReconcile,
    serverAccounts,
    procDir = '/proc',
    scanner = createSegmentScanner(),
    ownPids = () => new Set<number>(),
    processTable,
    keyLogins,
    racyWindowMs = RACY_WINDOW_MS,
  } = options;
  const sessions =
    options.sessions ??
    createSessionTracker({
      db,
      logger,
      procDir,
      keyLogins,
      onMaintenanceHeld: () => requestReconcile().catch((error: unknown) => logger.error({ err: error }, 'reconcile failed')),
    });
  let running: Promise<WatchedHost[]> | null = null;
  let isSweepDue = false;
  let rows: WatchedRow[] | null = null;
  /** Rows reconcile read and accepted (refreshHosts), used at the next look instead of reading them again. */
  let handedRows: readonly WatchedRow[] | null = null;
  let previous = new Set<number>();
  let hasSwept = false;
  const directoryStamps = new Map<string, string>();
  /** Hosts whose last scan ran out of its budget: looked at again at the next look. */
  const unfinished = new Set<string>();
  /**
   * The last full look at each repository, with the stamp of what it read (repository-stamp.ts): while the stamp
   * stays the same, a look (not a sweep) takes its scan and index instead of reading them again, and its config
   * needs no new copy. Only complete scans whose stamp is not racy are kept.
   */
  const lastReads = new Map<string, { stamp: string; scan: RepositoryScan; index: IndexFacts | null }>();
  /** Root's own config history of each host, read again only when its directory's stamp changed. */
  const histories = new Map<string, { stamp: string; bytes: number; times: Date[] }>();

  function configHistory(name: string): { bytes: number; times: Date[] } {
    const since = wallClockNs();
    const { stamp, isRacy } = stampOfPaths([configHistoryDir(backupDir, name)], since, racyWindowMs);
    const kept = histories.get(name);
    if (kept !== undefined && kept.stamp === stamp) return kept;
    const history = { stamp, bytes: configHistoryBytes(backupDir, name), times: configVersionTimes(backupDir, name) };
    if (isRacy) histories.delete(name);
    else histories.set(name, history);
    return history;
  }

  /** The repository's scan and index: the last ones while nothing changed (not at a sweep), else read now. */
  async function readRepository(
    row: WatchedRow,
    repository: string,
    isSweep: boolean,
  ): Promise<{ scan: RepositoryScan; index: IndexFacts | null; configRecorded: boolean }> {
    const last = lastReads.get(row.name);
    if (!isSweep && last !== undefined && repositoryStamp(repository, last.scan, 0n, 0).stamp === last.stamp)
      return { scan: last.scan, index: last.index, configRecorded: false };
    lastReads.delete(row.name);
    const since = wallClockNs();
    const configRecorded = recordConfigVersion(backupDir, row.name, now());
    if (configRecorded) {
      logger.info({ host: row.name }, 'kept a new version of the repository config');
      if (isConfigChurning(configHistory(row.name).times, now(), row.updatedAt)) disableChurningHost(row);
    }
    const scan = await scanner.scan(repository, row.uid);
    const index = readIndexFacts(repository, scan.lastCommitted, row.uid);
    const { stamp, isRacy } = repositoryStamp(repository, scan, since, racyWindowMs);
    if (scan.isComplete && !isRacy) lastReads.set(row.name, { stamp, scan, index });
    return { scan, index, configRecorded };
  }

  function directoryStamp(repository: string): string {
    try {
      const stats = statSync(repository);
      return `${stats.mtimeMs}:${stats.ctimeMs}`;
    } catch {
      return 'missing';
    }
  }

  function loadHosts(): WatchedRow[] {
    // A row is only a claim: only those reconcile accepts (a host name, a host UID) whose account root made are looked at.
    rows ??= serverAccounts.onlyHosts(
      handedRows ??
        acceptedHostRows(
          db
            .select()
            .from(hosts)
            .where(inArray(hosts.status, ['active', 'disabled']))
            .all(),
          backupDir,
        ).accepted,
    );
    handedRows = null;
    return rows;
  }

  function check({ sweep = false }: { sweep?: boolean } = {}): Promise<WatchedHost[]> {
    // A sweep asked for while a look runs is the next look.
    isSweepDue ||= sweep;
    running ??= look().finally(() => {
      running = null;
    });
    return running;
  }

  async function look(): Promise<WatchedHost[]> {
    const isSweep = isSweepDue || !hasSwept;
    isSweepDue = false;
    hasSwept = true;
    if (isSweep) rows = null;
    const current = loadHosts();
    // Imported hosts may keep UIDs outside the range new hosts get: ask about the hosts' own UIDs (those still the server's).
    const processes = processIdsInSession(
      serverAccounts.only(current.map((row) => row.uid)),
      procDir,
      ownPids(),
      // Only a scan of this same timer turn (the session cap looks in the watch's tick and takes this one): a scan
      // one interval old would be the previous look's, and a short session (a `borg init`) could then go unseen.
      processTable && { processes: processTable, maxAgeMs: SAME_TURN_SCAN_MS },
    );
    const inSession = new Set(processes.keys());
    const watched: WatchedHost[] = [];
    for (const row of current) {
      const repository = repositoryPath(backupDir, row.name);
      let hasChanged = false;
      if (isSweep) {
        const stamp = directoryStamp(repository);
        hasChanged = directoryStamps.get(row.name) !== stamp;
        directoryStamps.set(row.name, stamp);
      }
      const isNew = !sessions.hasSeen(row.name);
      if (!isNew && !hasChanged && !inSession.has(row.uid) && !previous.has(row.uid) && !unfinished.has(row.name)) continue;
      let configRecorded = false;
      let verdict: QuotaVerdict | null = null;
      try {
        const read = await readRepository(row, repository, isSweep);
        const { scan, index } = read;
        configRecorded = read.configRecorded;
        if (scan.isComplete) unfinished.delete(row.name);
        else unfinished.add(row.name);
        if (row.quotaBytes !== null) verdict = holdQuota(row, repository, scan, inSession.has(row.uid));
        sessions.observe(
          {
            name: row.name,
            uid: row.uid,
            quotaBytes: row.quotaBytes,
            repository,
            pids: processes.get(row.uid) ?? [],
            state: repositoryState(row, scan, index),
            hasEndedSessions: verdict === 'end-sessions' || verdict === 'disable',
          },
          now(),
        );
      } catch (error) {
        logger.error({ err: error, host: row.name }, 'could not check the repository');
      }
      watched.push({ name: row.name, verdict, configRecorded });
    }
    previous = inSession;
    return watched;
  }

  /** A host that keeps replacing its config (its key) is under attack or broken: it stops until the admin looks. */
  function disableChurningHost(row: WatchedRow): void {
    if (row.status === 'active') {
      disableHost(row);
      const details = { versionsKept: configHistory(row.name).times.length };
      reportAudit(db, now(), { action: 'host.config-churn.disable', target: row.name, details });
      reportEvent(db, now(), { type: 'host.config-churn.disabled', host: row.name, data: details });
      logger.error({ host: row.name }, 'the repository config keeps changing: host disabled');
    }
    endSessionsOf(serverAccounts.only([row.uid]), 'SIGKILL', procDir);
  }

  function disableHost(row: WatchedRow): void {
    db.transaction((tx) => {
      const disabled = tx.update(hosts).set({ status: 'disabled', updatedAt: now() }).where(eq(hosts.name, row.name)).returning().get();
      if (disabled) reportHost(tx, now(), disabled);
    });
    row.status = 'disabled';
    rows = null;
    requestReconcile().catch((error: unknown) => logger.error({ err: error }, 'reconcile failed'));
  }

  /** What the session tracker compares: borg's index (the last commit, its objects, the manifest) and the blocks. */
  function repositoryState(row: WatchedRow, scan: RepositoryScan, index: IndexFacts | null): RepositoryState {
    const usage = segmentUsage(scan.segments, scan.lastCommitted);
    return {
      lastCommitted: scan.lastCommitted,
      // The manifest is an object too: `borg init` writes one, and adds no data.
      objects: index === null ? 0 : index.objects - (index.manifest === null ? 0 : 1),
      manifest: index?.manifest ?? null,
      bytes: usage.committedBytes + usage.uncommittedBytes + configHistory(row.name).bytes,
      uncommittedSegments: usage.uncommitted.length,
    };
  }

  function holdQuota(row: WatchedRow, repository: string, scan: RepositoryScan, hasSession: boolean): QuotaVerdict {
    const quotaBytes = row.quotaBytes as number;
    const usage = segmentUsage(scan.segments, scan.lastCommitted);
    // The root-owned copies of its config count too: they are the host's doing.
    usage.committedBytes += configHistory(row.name).bytes;
    const uncommittedFiles = usage.uncommitted.length;
    const verdict = judgeQuota({
      quotaBytes,
      committedBytes: usage.committedBytes,
      uncommittedBytes: usage.uncommittedBytes,
      committedFiles: scan.fileCount - uncommittedFiles,
      uncommittedFiles,
      hasSession,
      isFullAccessWindow: row.appendOnly && isFullAccessOpen(row, now()),
    });
    const details = {
      quotaBytes,
      committedBytes: usage.committedBytes,
      uncommittedBytes: usage.uncommittedBytes,
      files: scan.fileCount,
      lastCommitted: scan.lastCommitted,
    };
    switch (verdict) {
      case 'within':
        break;
      case 'end-sessions':
        endSessionsOf(serverAccounts.only([row.uid]), 'SIGKILL', procDir);
        logger.warn({ host: row.name, ...details }, 'a session wrote past the storage quota: ended');
        reportAudit(db, now(), { action: 'host.quota.end-sessions', target: row.name, details });
        break;
      case 'clean-up': {
        const removed = removeUncommittedSegments(repository, row.uid, scan);
        if (removed > 0) logger.warn({ host: row.name, removed, ...details }, 'removed uncommitted segments past the storage quota');
        break;
      }
      case 'disable':
        if (!hasSession) removeUncommittedSegments(repository, row.uid, scan);
        if (row.status === 'active') {
          disableHost(row);
          reportAudit(db, now(), { action: 'host.quota.disable', target: row.name, details });
          // Only a report: the unprivileged API process queues and sends it, root never goes to the network.
          reportEvent(db, now(), { type: 'host.quota.disabled', host: row.name, data: details });
          logger.error({ host: row.name, ...details }, 'the repository is over its storage quota on disk: host disabled');
        }
        endSessionsOf(serverAccounts.only([row.uid]), 'SIGKILL', procDir);
        break;
    }
    return verdict;
  }

  return {
    check,
    refreshHosts(checkedRows) {
      rows = null;
      lastReads.clear();
      handedRows = checkedRows?.filter((row) => row.status === 'active' || row.status === 'disabled') ?? null;
    },
  };
}
