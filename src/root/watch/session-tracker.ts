import { eq } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { hostSessions } from '../../db/schema.js';
import { type RepositoryState, type SessionEnd, summarizeSession } from '../../domain/session-outcome.js';
import type { Logger } from '../../log.js';
import { countLoggedCommits } from '../borg-files/borg-index-file.js';
import { sessionIdentityOf } from '../processes/session-address.js';
import { recordSessionOnRoot } from './sessions-recorded.js';

interface OpenSession {
  startedAt: Date;
  before: RepositoryState;
  clientAddress: string | null;
  addresses: Set<string>;
  seenPids: Set<number>;
  endedBy: SessionEnd;
  /** Maintainers whose keys made connections of it. */
  maintainers: Set<string>;
  /** A connection of it was the host's own key: the session is the host's. */
  hasHostKey: boolean;
}

export interface ObservedHost {
  name: string;
  uid: number;
  quotaBytes: number | null;
  repository: string;
  /** The processes the host runs now (empty: no session). */
  pids: readonly number[];
  state: RepositoryState;
  /** The quota watch ended its sessions in this look. */
  hasEndedSessions: boolean;
}

export interface SessionTracker {
  /** One look at a host (by the repository watch): opens, follows or closes its session. */
  observe(host: ObservedHost, now: Date): void;
  /** Whether a look has given this host a start state yet (the watch looks at once at a host that has none). */
  hasSeen(name: string): boolean;
}

function newSession(startedAt: Date, before: RepositoryState): OpenSession {
  return {
    startedAt,
    before,
    clientAddress: null,
    addresses: new Set(),
    seenPids: new Set(),
    endedBy: 'client',
    maintainers: new Set(),
    hasHostKey: false,
  };
}

/**
 * A maintainer's session only when every connection seen was that maintainer's key; anything else (the host's key
 * beside it, no process seen at all) is the host's own: so the host's own deletes are never taken for maintenance.
 */
function maintainerOf(session: OpenSession): string | null {
  if (session.hasHostKey || session.maintainers.size !== 1) return null;
  return [...session.maintainers][0] ?? null;
}

/** A repository as reconcile makes it: a directory with nothing in it. */
const EMPTY_REPOSITORY: RepositoryState = { lastCommitted: -1, objects: 0, manifest: null, bytes: 0, uncommittedSegments: 0 };

/**
 * Follows each host's borg sessions as the repository watch sees them: a
 * session is a time during which the host has processes (connections that
 * overlap are one session, counted in `connections`). Its start state is the
 * repository as the watch last read it; at its end, what changed is recorded
 * (see summarizeSession). A session so short that no look saw it, but whose
 * commit a sweep finds, is recorded too (start = end, no address).
 */
export function createSessionTracker({
  db,
  logger,
  procDir = '/proc',
  onMaintenanceHeld = () => {},
}: {
  db: Db;
  logger: Logger;
  procDir?: string;
  /** A session of the host's own key held its maintainers out: their lines are to go. */
  onMaintenanceHeld?: (hostName: string) => void;
}): SessionTracker {
  const open = new Map<string, OpenSession>();
  const lastState = new Map<string, RepositoryState>();

  function follow(session: OpenSession, pids: readonly number[]): void {
    for (const pid of pids) {
      if (session.seenPids.has(pid)) continue;
      session.seenPids.add(pid);
      const identity = sessionIdentityOf(pid, procDir);
      // Only a session's command (borg serve) carries SSH_CONNECTION: sshd's own process of the user does not.
      if (identity?.maintainer) session.maintainers.add(identity.maintainer);
      else if (identity?.clientAddress) session.hasHostKey = true;
      const address = identity?.clientAddress ?? null;
      if (address === null) continue;
      session.addresses.add(address);
      session.clientAddress ??= address;
    }
  }

  function close(host: ObservedHost, session: OpenSession, now: Date): void {
    const { before } = session;
    const after = host.state;
    const logged = countLoggedCommits(host.repository, before.lastCommitted, after.lastCommitted, host.uid);
    const summary = summarizeSession(before, after, session.endedBy, logged);
    const isHeld = recordSessionOnRoot(db, {
      hostName: host.name,
      quotaBytes: host.quotaBytes,
      startedAt: session.startedAt,
      endedAt: now,
      clientAddress: session.clientAddress,
      connections: session.addresses.size,
      lastCommitBefore: before.lastCommitted,
      lastCommitAfter: after.lastCommitted,
      endedBy: session.endedBy,
      summary,
      repositoryBytes: after.bytes,
      maintainer: maintainerOf(session),
    });
    logger.info({ host: host.name, ...summary, maintainer: maintainerOf(session) }, 'borg session ended');
    if (isHeld) {
      logger.warn({ host: host.name }, "maintainers held out: the host's own key deleted or pruned");
      onMaintenanceHeld(host.name);
    }
  }

  /**
   * The state a session starts from when no look has read the host before:
   * a host that has never had a session was made with an empty repository
   * moments ago (the first look at boot reads every other), so whatever its
   * first session did before the watch saw it counts; otherwise its state now.
   */
  function firstState(host: ObservedHost): RepositoryState {
    if (host.pids.length === 0) return host.state;
    const hasHadSession = db.select({ id: hostSessions.id }).from(hostSessions).where(eq(hostSessions.hostName, host.name)).limit(1).get();
    return hasHadSession ? host.state : EMPTY_REPOSITORY;
  }

  return {
    hasSeen: (name) => lastState.has(name),
    observe(host, now) {
      const previous = lastState.get(host.name) ?? firstState(host);
      lastState.set(host.name, host.state);
      let session = open.get(host.name);
      if (host.pids.length > 0) {
        if (session === undefined) {
          session = newSession(now, previous);
          open.set(host.name, session);
        }
        follow(session, host.pids);
        if (host.hasEndedSessions) session.endedBy = 'quota-watch';
        return;
      }
      if (session === undefined && host.state.lastCommitted !== previous.lastCommitted) {
        session = newSession(now, previous);
      }
      if (session === undefined) return;
      if (host.hasEndedSessions) session.endedBy = 'quota-watch';
      open.delete(host.name);
      try {
        close(host, session, now);
      } catch (error) {
        logger.error({ err: error, host: host.name }, 'could not record the session');
      }
    },
  };
}
