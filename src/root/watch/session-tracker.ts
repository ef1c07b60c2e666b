import { eq } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { hostSessions, maintainers } from '../../db/schema.js';
import { objectsRemovedBy } from '../../domain/maintenance-hold.js';
import { type RepositoryState, type SessionEnd, type SessionSummary, summarizeSession } from '../../domain/session-outcome.js';
import type { Logger } from '../../log.js';
import { countLoggedCommits, countObjectsWrittenAfter } from '../borg-files/borg-index-file.js';
import { sessionIdentityOf } from '../processes/session-address.js';
import type { KeyLogins } from '../sshd/key-logins.js';
import { recordSessionOnRoot } from './sessions-recorded.js';

interface OpenSession {
  startedAt: Date;
  before: RepositoryState;
  clientAddress: string | null;
  addresses: Set<string>;
  /** Processes whose connection is known (or given up on): their environment is not read again. */
  seenPids: Set<number>;
  /** Processes read without an identity yet, with the number of looks that read them. */
  unidentifiedPids: Map<number, number>;
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
    unidentifiedPids: new Map(),
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

/**
 * How many looks read a process's environment before it is taken for sshd's own process of the user, which never
 * has one. sshd forks the command's process from that one, so a look can catch the command between fork and exec,
 * still with sshd's environment; a few looks later (a quarter of a second apart) it has its own.
 */
const IDENTITY_READS = 8;

/** How long before the look that first saw a session its login may be: looks run every 250 ms (a quiet server scans /proc only at its 10 s sweep or a new connection). */
const LOGIN_BEFORE_SESSION_MS = 30_000;

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
  keyLogins,
  onMaintenanceHeld = () => {},
}: {
  db: Db;
  logger: Logger;
  procDir?: string;
  /** The logins sshd logged: which keys opened the session, also when no look saw its command. */
  keyLogins?: KeyLogins | undefined;
  /** A session of the host's own key held its maintainers out: their lines are to go. */
  onMaintenanceHeld?: (hostName: string) => void;
}): SessionTracker {
  const open = new Map<string, OpenSession>();
  const lastState = new Map<string, RepositoryState>();

  function follow(session: OpenSession, pids: readonly number[]): void {
    for (const pid of pids) {
      if (session.seenPids.has(pid)) continue;
      const identity = sessionIdentityOf(pid, procDir);
      // Only a session's command (borg serve) carries SSH_CONNECTION: sshd's own process of the user does not, and
      // neither does the command's process before its exec. Read such a process again at the next looks.
      if (identity?.clientAddress == null && identity?.maintainer == null) {
        const reads = (session.unidentifiedPids.get(pid) ?? 0) + 1;
        session.unidentifiedPids.set(pid, reads);
        if (identity !== null && reads < IDENTITY_READS) continue;
        session.unidentifiedPids.delete(pid);
        session.seenPids.add(pid);
        continue;
      }
      session.unidentifiedPids.delete(pid);
      session.seenPids.add(pid);
      if (identity.maintainer) session.maintainers.add(identity.maintainer);
      else session.hasHostKey = true;
      const address = identity.clientAddress;
      if (address === null) continue;
      session.addresses.add(address);
      session.clientAddress ??= address;
    }
  }

  /**
   * Objects the host's own session removed from what the repository had: counted (the whole index read) only for a
   * session of the host's key that committed other than the first commit, and that is not already a delete.
   */
  function objectsRemovedIn(host: ObservedHost, session: OpenSession, summary: SessionSummary): number | null {
    const { before } = session;
    const after = host.state;
    if (summary.transactionsCommitted === 0 || before.lastCommitted < 0 || maintainerOf(session) !== null) return 0;
    if (summary.outcome === 'changed') return 0;
    const written = countObjectsWrittenAfter(host.repository, after.lastCommitted, host.uid, before.lastCommitted);
    return objectsRemovedBy(before.objects, written, after.objects);
  }

  /**
   * The keys sshd accepted for the account's logins since its last session: a session so short that no look saw its
   * command (only sshd's own processes, or nothing) is known by them too, and a connection of the host's own key
   * that no look saw still makes the session the host's.
   */
  function addKeyLogins(host: ObservedHost, session: OpenSession, now: Date): void {
    const earliest = session.startedAt.getTime() - LOGIN_BEFORE_SESSION_MS;
    // Older logins were of connections that left no session (a list between two looks): they are dropped.
    for (const login of (keyLogins?.take(host.name, now) ?? []).filter((taken) => taken.at.getTime() >= earliest)) {
      const maintainer = db
        .select({ name: maintainers.name })
        .from(maintainers)
        .where(eq(maintainers.fingerprint, login.fingerprint))
        .get();
      if (maintainer) session.maintainers.add(maintainer.name);
      else session.hasHostKey = true;
      session.addresses.add(login.address);
      session.clientAddress ??= login.address;
    }
  }

  function close(host: ObservedHost, session: OpenSession, now: Date): void {
    addKeyLogins(host, session, now);
    const { before } = session;
    const after = host.state;
    const logged = countLoggedCommits(host.repository, before.lastCommitted, after.lastCommitted, host.uid);
    const summary = summarizeSession(before, after, session.endedBy, logged);
    const objectsRemoved = objectsRemovedIn(host, session, summary);
    const isHeld = recordSessionOnRoot(
      db,
      {
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
      },
      objectsRemoved,
    );
    logger.info({ host: host.name, ...summary, objectsRemoved, maintainer: maintainerOf(session) }, 'borg session ended');
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
