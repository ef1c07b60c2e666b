import type { Db } from '../../db/connection.js';
import { compareFaults, type Fault, type FaultCode, faultListSchema, faultOfError } from '../../domain/faults.js';
import type { Logger } from '../../log.js';
import { probeStateVolume } from '../../state-volume-probe.js';

/**
 * The faults the API sees (src/domain/faults.ts): its state volume full or
 * read-only, its database locked by another process, and those root reports
 * over the channel (sshd down, the backup volume full, the clock stepped back).
 * The API logs its own faults once when an episode begins and once when it
 * ends, however many requests fail meanwhile; root logs its own.
 */
export interface FaultMonitor {
  /** Looks now; returns every fault present, root's included, and logs what began or ended of the API's own. */
  check(): Fault[];
  /**
   * A request failed with this fault: logged now if it begins an episode, ended by the next check that no longer
   * sees it. Only the API's own faults (its volume, its database); root logs those it reports.
   */
  noteFault(fault: Fault): void;
  /** A background pass failed: true (and noted) when the error is a fault, false for anything else (a bug, to log). */
  noteError(error: unknown): boolean;
  /** Root's faults, as it pushed them; anything else is ignored (and logged). */
  setRootFaults(faults: unknown): void;
  /** Why the state volume takes no write, or null when it takes one: what an SQLite I/O error was. */
  probeStateVolume(): Fault | null;
}

/**
 * How long the health probe waits for the database's write lock: short, it runs in the request. While another
 * process holds the lock beyond the busy timeout, every statement waits this long only, not the full busy timeout:
 * SQLite's wait blocks the event loop, and the API must go on answering (503 SERVER_BUSY, /healthz) meanwhile.
 */
export const LOCK_PROBE_TIMEOUT_MS = 250;

/** The faults the API sees itself; the others are root's to see and log. */
const OWN_FAULTS: ReadonlySet<FaultCode> = new Set(['STATE_VOLUME_FULL', 'STATE_VOLUME_READ_ONLY', 'STATE_VOLUME_FAILED', 'SERVER_BUSY']);

export function createFaultMonitor(options: { db: Db; databaseDir: string; logger: Logger }): FaultMonitor {
  const { db, databaseDir, logger } = options;
  const probePath = `${databaseDir}/.fault-probe`;
  const normalBusyTimeoutMs = db.$client.pragma('busy_timeout', { simple: true }) as number;
  let ownFaults: Fault[] = [];
  let rootFaults: Fault[] = [];

  const probeOwnStateVolume = () => probeStateVolume(probePath);

  /** Takes the write lock and lets it go at once: SERVER_BUSY when another process holds it beyond the probe's wait. */
  function probeDatabaseLock(): Fault | null {
    const client = db.$client;
    if (client.inTransaction) return null;
    const busyTimeoutMs = client.pragma('busy_timeout', { simple: true }) as number;
    client.pragma(`busy_timeout = ${LOCK_PROBE_TIMEOUT_MS}`);
    try {
      client.exec('BEGIN IMMEDIATE');
      client.exec('ROLLBACK');
      return null;
    } catch (error) {
      return faultOfError(error, 'state', probeOwnStateVolume);
    } finally {
      client.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
  }

  function record(current: Fault[]): void {
    const { began, ended } = compareFaults(ownFaults, current);
    for (const fault of began) logger.error({ fault: fault.code }, `fault began: ${fault.message}`);
    for (const fault of ended) logger.info({ fault: fault.code }, `fault ended: ${fault.code}`);
    ownFaults = current;
    const isBusy = current.some((fault) => fault.code === 'SERVER_BUSY');
    db.$client.pragma(`busy_timeout = ${isBusy ? LOCK_PROBE_TIMEOUT_MS : normalBusyTimeoutMs}`);
  }

  function noteFault(fault: Fault): void {
    if (!OWN_FAULTS.has(fault.code) || ownFaults.some((active) => active.code === fault.code)) return;
    record([...ownFaults, fault]);
  }

  return {
    check() {
      const seen = [probeOwnStateVolume(), probeDatabaseLock()].filter((fault): fault is Fault => fault !== null);
      // One per code: a full volume also fails the lock probe's write.
      const current = seen.filter((fault, index) => seen.findIndex((other) => other.code === fault.code) === index);
      record(current);
      const own = new Set(current.map((fault) => fault.code));
      return [...current, ...rootFaults.filter((fault) => !own.has(fault.code))];
    },
    noteFault,
    noteError(error) {
      const fault = faultOfError(error, 'state', probeOwnStateVolume);
      if (fault) noteFault(fault);
      return fault !== null;
    },
    setRootFaults(faults) {
      const parsed = faultListSchema.safeParse(faults);
      if (!parsed.success) {
        logger.error('root pushed a fault list that is not one');
        return;
      }
      rootFaults = parsed.data;
    },
    probeStateVolume: probeOwnStateVolume,
  };
}
