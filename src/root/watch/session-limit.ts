import { eq } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import { DEFAULT_MAX_SESSIONS, type HostProcess, isSessionCap, sessionsOverCap } from '../../domain/session-cap.js';
import type { Logger } from '../../log.js';
import type { ServerAccounts, ServerUids } from '../accounts/server-accounts.js';
import { statFieldsOf } from '../processes/proc-stat.js';
import { type HostProcessTable, processesOf } from '../processes/sessions.js';
import { acceptedHostRows } from '../reconcile/accepted-host-rows.js';
import { reportAudit } from '../reports/report-to-api.js';

/**
 * How often the server counts sessions: a flood lives at most this long. serve.ts runs the count in the
 * repository watch's timer, every SESSION_LIMIT_EVERY_LOOKS-th look, right after the watch's /proc scan.
 */
export const SESSION_LIMIT_INTERVAL_MS = 500;
/** How old a /proc scan the cap may use: only one made in the same timer turn. */
const SHARED_SCAN_MAX_AGE_MS = 50;
/** One audit entry per host in this time however often it tries (the log has every look). */
const AUDIT_EVERY_MS = 60_000;

/** What the cap reads of a host row. */
type HostRow = Pick<typeof hosts.$inferSelect, 'name' | 'uid' | 'status' | 'maxSessions'>;

export interface SessionLimit {
  /** Reads the active hosts and their caps again (after every reconcile). */
  /** Reads the hosts again, or takes `checkedRows`: rows acceptedHostRows accepted (reconcile's, as it just read them). */
  refreshHosts(checkedRows?: readonly HostRow[]): void;
  /** One look: ends the newest sessions of every host beyond its cap; returns how many processes it ended. */
  check(): number;
}

/**
 * The host processes in this server's mount namespace (sessions.ts), each
 * with its parent and start time: sshd's child for a connection changed its
 * UID and is not dumpable, so it is found by real UID, not by the owner of /proc/PID.
 */
function readHostProcesses(uids: ServerUids, procDir: string, table: HostProcessTable | undefined): HostProcess[] {
  // Fresh, or the repository watch's of the same timer turn: a flood lives at most this look's interval.
  return (table?.processesOf(uids, { maxAgeMs: SHARED_SCAN_MAX_AGE_MS }) ?? processesOf(uids, procDir)).flatMap(({ pid, uid }) => {
    const fields = statFieldsOf(procDir, pid);
    return fields === null ? [] : [{ pid, parentPid: Number(fields[1]), uid, startTicks: Number(fields[19]) }];
  });
}

/**
 * The per-host session cap, enforced from the root side: sshd cannot (see
 * domain/session-cap.ts). The supervisor calls `check` on a timer.
 */
export function createSessionLimit(options: {
  db: Db;
  backupDir: string;
  logger: Logger;
  now: () => Date;
  /** Which accounts root made: only their processes are counted and ended. */
  serverAccounts: ServerAccounts;
  procDir?: string;
  /** The server's own processes as a host (its repository check): not a session. */
  ownPids?: () => ReadonlySet<number>;
  /** A /proc scan shared with the repository watch (absent: a scan of its own at each look). */
  processTable?: HostProcessTable;
}): SessionLimit {
  const { db, backupDir, logger, now, serverAccounts, procDir = '/proc', ownPids = () => new Set<number>(), processTable } = options;
  let capByUid = new Map<number, { name: string; maxSessions: number }>();
  /** Rows reconcile handed over, made into caps at the next look (not in the pass that approves a host). */
  let handedRows: readonly HostRow[] | null = null;
  const lastAuditAt = new Map<string, number>();
  function setCaps(accepted: readonly HostRow[]): void {
    // A row is only a claim (a forged one names any UID): only hosts whose accounts root made are counted.
    capByUid = new Map(
      serverAccounts
        .onlyHosts(accepted)
        .map((row) => [row.uid, { name: row.name, maxSessions: isSessionCap(row.maxSessions) ? row.maxSessions : DEFAULT_MAX_SESSIONS }]),
    );
  }
  return {
    refreshHosts(checkedRows) {
      if (checkedRows) {
        handedRows = checkedRows.filter((row) => row.status === 'active');
        return;
      }
      handedRows = null;
      setCaps(acceptedHostRows(db.select().from(hosts).where(eq(hosts.status, 'active')).all(), backupDir).accepted);
    },
    check() {
      if (handedRows) {
        setCaps(handedRows);
        handedRows = null;
      }
      const own = ownPids();
      // Asked again at every look: an account removed since the last reconcile is no one's to count.
      const processes = readHostProcesses(serverAccounts.only(capByUid.keys()), procDir, processTable).filter(
        (found) => !own.has(found.pid),
      );
      let ended = 0;
      for (const over of sessionsOverCap(processes, (uid) => capByUid.get(uid)?.maxSessions)) {
        for (const pid of over.pidsToEnd) {
          try {
            process.kill(pid, 'SIGKILL');
            ended += 1;
          } catch {}
        }
        const name = capByUid.get(over.uid)?.name ?? String(over.uid);
        const details = {
          uid: over.uid,
          sessions: over.sessions,
          maxSessions: over.maxSessions,
          endedSessions: over.sessions - over.maxSessions,
        };
        logger.warn({ host: name, ...details }, 'sessions beyond the host cap ended');
        const at = now();
        if (at.getTime() - (lastAuditAt.get(name) ?? Number.NEGATIVE_INFINITY) >= AUDIT_EVERY_MS) {
          lastAuditAt.set(name, at.getTime());
          reportAudit(db, at, { action: 'host.sessions.limit', target: name, details });
        }
      }
      return ended;
    },
  };
}
