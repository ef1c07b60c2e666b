import { statSync } from 'node:fs';
import { eq, inArray } from 'drizzle-orm';
import { recordAudit } from '../audit/audit-log.js';
import type { Db } from '../db/connection.js';
import { hosts } from '../db/schema.js';
import { repositoryPath } from '../domain/authorized-keys.js';
import { judgeQuota, type QuotaVerdict, segmentUsage } from '../domain/borg-segments.js';
import { isAppendOnlyNow } from '../domain/full-access.js';
import type { Logger } from '../log.js';
import { listSegments, removeUncommittedSegments } from '../provision/repository-files.js';
import { endSessionsOf, uidsInSession } from '../provision/sessions.js';
import { recordConfigVersion } from '../restore/config-history.js';

/** How often the watch looks for sessions (a /proc scan), and every how many looks it sweeps every repository. */
export const REPOSITORY_WATCH_INTERVAL_MS = 250;
export const REPOSITORY_WATCH_SWEEP_EVERY = 40;

export interface RepositoryWatchOptions {
  db: Db;
  backupDir: string;
  logger: Logger;
  now: () => Date;
  /** Applies a host's new status (disable): the supervisor's reconcile. */
  requestReconcile: () => Promise<void>;
  procDir?: string;
}

type WatchedRow = Pick<typeof hosts.$inferSelect, 'name' | 'uid' | 'status' | 'quotaBytes' | 'appendOnly' | 'fullAccessUntil'>;

export interface WatchedHost {
  name: string;
  verdict: QuotaVerdict | null;
  configRecorded: boolean;
}

export interface RepositoryWatch {
  /** One look; `sweep` also looks at every repository whose directory changed since the last sweep. */
  check(options?: { sweep?: boolean }): WatchedHost[];
  /** The hosts changed (after a reconcile): read them again at the next look. */
  refreshHosts(): void;
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
 *   `borgctl hosts restore`;
 * - holds the storage quota on disk (see judgeQuota): ends the sessions of a
 *   transaction that goes past it, removes what such a session left behind,
 *   and disables an append-only host whose kept history has filled it.
 */
export function createRepositoryWatch(options: RepositoryWatchOptions): RepositoryWatch {
  const { db, backupDir, logger, now, requestReconcile, procDir = '/proc' } = options;
  let rows: WatchedRow[] | null = null;
  let previous = new Set<number>();
  let hasSwept = false;
  const directoryStamps = new Map<string, string>();

  function directoryStamp(repository: string): string {
    try {
      const stats = statSync(repository);
      return `${stats.mtimeMs}:${stats.ctimeMs}`;
    } catch {
      return 'missing';
    }
  }

  function loadHosts(): WatchedRow[] {
    rows ??= db
      .select({
        name: hosts.name,
        uid: hosts.uid,
        status: hosts.status,
        quotaBytes: hosts.quotaBytes,
        appendOnly: hosts.appendOnly,
        fullAccessUntil: hosts.fullAccessUntil,
      })
      .from(hosts)
      .where(inArray(hosts.status, ['active', 'disabled']))
      .all();
    return rows;
  }

  function check({ sweep = false }: { sweep?: boolean } = {}): WatchedHost[] {
    const isSweep = sweep || !hasSwept;
    hasSwept = true;
    if (isSweep) rows = null;
    const current = loadHosts();
    // Imported hosts may keep UIDs outside the range new hosts get: ask about the hosts' own UIDs.
    const inSession = uidsInSession(new Set(current.map((row) => row.uid)), procDir);
    const watched: WatchedHost[] = [];
    for (const row of current) {
      const repository = repositoryPath(backupDir, row.name);
      let hasChanged = false;
      if (isSweep) {
        const stamp = directoryStamp(repository);
        hasChanged = directoryStamps.get(row.name) !== stamp;
        directoryStamps.set(row.name, stamp);
      }
      if (!hasChanged && !inSession.has(row.uid) && !previous.has(row.uid)) continue;
      let configRecorded = false;
      let verdict: QuotaVerdict | null = null;
      try {
        configRecorded = recordConfigVersion(backupDir, row.name, now());
        if (configRecorded) logger.info({ host: row.name }, 'kept a new version of the repository config');
        if (row.quotaBytes !== null) verdict = holdQuota(row, repository, inSession.has(row.uid));
      } catch (error) {
        logger.error({ err: error, host: row.name }, 'could not check the repository');
      }
      watched.push({ name: row.name, verdict, configRecorded });
    }
    previous = inSession;
    return watched;
  }

  function holdQuota(row: WatchedRow, repository: string, hasSession: boolean): QuotaVerdict {
    const quotaBytes = row.quotaBytes as number;
    const usage = segmentUsage(listSegments(repository));
    const verdict = judgeQuota({ quotaBytes, ...usage, hasSession, isAppendOnly: isAppendOnlyNow(row, now()) });
    const details = { quotaBytes, committedBytes: usage.committedBytes, uncommittedBytes: usage.uncommittedBytes };
    switch (verdict) {
      case 'within':
        break;
      case 'end-sessions':
        endSessionsOf(new Set([row.uid]), 'SIGKILL', procDir);
        logger.warn({ host: row.name, ...details }, 'a session wrote past the storage quota: ended');
        recordAudit(db, now(), { actor: 'server', action: 'host.quota.end-sessions', target: row.name, details });
        break;
      case 'clean-up': {
        const removed = removeUncommittedSegments(repository);
        if (removed > 0) logger.warn({ host: row.name, removed, ...details }, 'removed uncommitted segments past the storage quota');
        break;
      }
      case 'disable':
        if (!hasSession) removeUncommittedSegments(repository);
        if (row.status === 'active') {
          db.update(hosts).set({ status: 'disabled', updatedAt: now() }).where(eq(hosts.name, row.name)).run();
          rows = null;
          recordAudit(db, now(), { actor: 'server', action: 'host.quota.disable', target: row.name, details });
          logger.error({ host: row.name, ...details }, 'the repository is over its storage quota on disk: host disabled');
          requestReconcile().catch((error: unknown) => logger.error({ err: error }, 'reconcile failed'));
        }
        endSessionsOf(new Set([row.uid]), 'SIGKILL', procDir);
        break;
    }
    return verdict;
  }

  return {
    check,
    refreshHosts() {
      rows = null;
    },
  };
}
