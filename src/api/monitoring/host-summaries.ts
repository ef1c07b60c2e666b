import { asc, inArray } from 'drizzle-orm';
import type { Queryable } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import { isFullAccessOpen } from '../../domain/full-access.js';
import { QUOTA_HIGH_FRACTION } from '../../domain/notification-events.js';
import { type HostMonitoring, monitoringOfEveryHost } from './host-monitoring.js';

/** What a list of hosts shows of each: enough to sort by trouble, without a query per host. */
export interface HostSummary extends HostMonitoring {
  name: string;
  status: 'active' | 'disabled';
  appendOnly: boolean;
  fullAccessUntil: Date | null;
  quotaBytes: number | null;
  /** Why an admin should look, worst first; empty when all is well. */
  problems: HostProblem[];
}

export type HostProblem = 'stale' | 'check-failed' | 'quota-high' | 'never-backed-up' | 'disabled';

const PROBLEM_ORDER: readonly HostProblem[] = ['stale', 'check-failed', 'quota-high', 'never-backed-up', 'disabled'];

/** Every live host, by name, with its monitoring figures: three queries for any number of hosts. */
export function listHostSummaries(db: Queryable, now: Date): HostSummary[] {
  const monitoringOf = monitoringOfEveryHost(db, now);
  // Only the columns a summary shows: a list reads every live host, and mapping whole rows
  // (keys, fingerprints, URLs) was most of the admin page's time at 10,000 hosts (bench/api).
  return db
    .select({
      name: hosts.name,
      status: hosts.status,
      appendOnly: hosts.appendOnly,
      fullAccessUntil: hosts.fullAccessUntil,
      quotaBytes: hosts.quotaBytes,
      createdAt: hosts.createdAt,
      expectBackupEveryMs: hosts.expectBackupEveryMs,
    })
    .from(hosts)
    .where(inArray(hosts.status, ['active', 'disabled']))
    .orderBy(asc(hosts.name))
    .all()
    .map((row) => {
      const monitoring = monitoringOf(row);
      const problems = PROBLEM_ORDER.filter((problem) => hasProblem(problem, monitoring));
      return {
        name: row.name,
        status: row.status === 'disabled' ? 'disabled' : 'active',
        appendOnly: row.appendOnly,
        fullAccessUntil: isFullAccessOpen(row, now) ? row.fullAccessUntil : null,
        quotaBytes: row.quotaBytes,
        ...monitoring,
        problems,
      };
    });
}

function hasProblem(problem: HostProblem, host: HostMonitoring): boolean {
  switch (problem) {
    case 'stale':
      return host.stale;
    case 'check-failed':
      return host.lastCheck?.outcome === 'failed' || host.lastCheck?.outcome === 'error';
    case 'quota-high':
      return host.quotaUse !== null && host.quotaUse > QUOTA_HIGH_FRACTION;
    case 'never-backed-up':
      return host.backupStatus === 'never' && !host.stale;
    case 'disabled':
      return host.backupStatus === 'disabled';
  }
}

/** Hosts with trouble first (by their worst problem), then by name. */
export function byTrouble(a: HostSummary, b: HostSummary): number {
  const rank = (host: HostSummary) => (host.problems[0] ? PROBLEM_ORDER.indexOf(host.problems[0]) : PROBLEM_ORDER.length);
  return rank(a) - rank(b) || a.name.localeCompare(b.name);
}
