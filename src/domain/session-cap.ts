import { AppError } from '../errors.js';

/**
 * How many SSH sessions one host may hold open at once. sshd has no
 * per-user session limit without PAM (MaxSessions counts channels in one
 * connection, MaxStartups unauthenticated connections of everyone), so the
 * server counts them itself.
 *
 * A session is one SSH connection: on the server, sshd's unprivileged child
 * for that connection runs as the host's UID, and borg serve (the forced
 * command) runs below it. So each process of the UID belongs to the session
 * of its oldest ancestor that runs as the same UID; a connection without a
 * command (ssh -N) is a session too.
 */

/** Two: a backup and, say, a `borg list` beside it. */
export const DEFAULT_MAX_SESSIONS = 2;
const MAX_MAX_SESSIONS = 100;

/** Whether a stored cap is one parseMaxSessions would have let through. */
export function isSessionCap(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_MAX_SESSIONS;
}

export function parseMaxSessions(value: unknown): number {
  const number = typeof value === 'string' && /^\d{1,4}$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > MAX_MAX_SESSIONS) {
    throw new AppError('BAD_REQUEST', `maxSessions must be a whole number from 1 to ${MAX_MAX_SESSIONS}`);
  }
  return number;
}

/** A process running as a host's UID, as /proc shows it. */
export interface HostProcess {
  pid: number;
  parentPid: number;
  uid: number;
  /** When it started (clock ticks since boot): orders the sessions. */
  startTicks: number;
}

export interface SessionsOverCap {
  uid: number;
  sessions: number;
  maxSessions: number;
  /** Every process of the newest sessions beyond the cap. */
  pidsToEnd: number[];
}

/**
 * The sessions of each UID beyond its cap (`maxSessionsOf` returns undefined
 * for a UID that is no host's): the oldest ones stay, so a backup that is
 * running is not cut off by a newcomer; the newest go, whole.
 */
export function sessionsOverCap(processes: readonly HostProcess[], maxSessionsOf: (uid: number) => number | undefined): SessionsOverCap[] {
  const byPid = new Map(processes.map((process) => [process.pid, process]));
  const sessionOf = (process: HostProcess): HostProcess => {
    let leader = process;
    const seen = new Set<number>();
    for (;;) {
      const parent = byPid.get(leader.parentPid);
      if (!parent || parent.uid !== process.uid || seen.has(parent.pid)) return leader;
      seen.add(leader.pid);
      leader = parent;
    }
  };
  const sessionsByUid = new Map<number, Map<HostProcess, number[]>>();
  for (const process of processes) {
    if (maxSessionsOf(process.uid) === undefined) continue;
    const leader = sessionOf(process);
    const sessions = sessionsByUid.get(process.uid) ?? new Map<HostProcess, number[]>();
    sessionsByUid.set(process.uid, sessions);
    sessions.set(leader, [...(sessions.get(leader) ?? []), process.pid]);
  }
  const result: SessionsOverCap[] = [];
  for (const [uid, sessions] of sessionsByUid) {
    const maxSessions = maxSessionsOf(uid) ?? DEFAULT_MAX_SESSIONS;
    if (sessions.size <= maxSessions) continue;
    const newestLast = [...sessions.keys()].sort((a, b) => a.startTicks - b.startTicks || a.pid - b.pid);
    const pidsToEnd = newestLast.slice(maxSessions).flatMap((leader) => sessions.get(leader) ?? []);
    result.push({ uid, sessions: sessions.size, maxSessions, pidsToEnd: pidsToEnd.sort((a, b) => a - b) });
  }
  return result;
}
