import { z } from 'zod';

/**
 * Faults of the machine the server runs on, as opposed to bad requests: a
 * volume full or read-only, the database locked by another process, a child
 * down, the clock stepped back. Each has a reason code the API answers with
 * (503), the healthcheck prints, and the log names once when it begins and
 * once when it ends. One table from low-level errors (SQLite's, the file
 * system's) to those codes, so every side names a fault the same way.
 */

export const FAULT_CODES = [
  'STATE_VOLUME_FULL',
  'STATE_VOLUME_READ_ONLY',
  'STATE_VOLUME_FAILED',
  'BACKUP_VOLUME_FULL',
  'BACKUP_VOLUME_READ_ONLY',
  'SERVER_BUSY',
  'SSHD_DOWN',
  'API_DOWN',
  'CLOCK_STEPPED_BACK',
] as const;

export type FaultCode = (typeof FAULT_CODES)[number];

export interface Fault {
  code: FaultCode;
  /** One sentence for the admin: what is wrong and what to do. */
  message: string;
}

export type Volume = 'state' | 'backup';

export const faultSchema = z.strictObject({ code: z.enum(FAULT_CODES), message: z.string().max(500) });
/** A handful at most (one per code); bounded for a message that crosses the privilege line. */
export const faultListSchema = z.array(faultSchema).max(FAULT_CODES.length);

const VOLUME_NAMES: Record<Volume, string> = { state: 'state volume', backup: 'backup volume' };

/** The fault a failed file-system call names, for a call on `volume`; null when it names none (a missing file is a bug, not a fault). */
export function faultOfErrno(errno: string | undefined, volume: Volume): Fault | null {
  const name = VOLUME_NAMES[volume];
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return volume === 'state'
        ? { code: 'STATE_VOLUME_FULL', message: `the ${name} is full (${errno}): free space on it` }
        : { code: 'BACKUP_VOLUME_FULL', message: `the ${name} is full (${errno}): free space on it or grow it` };
    case 'EROFS':
      return volume === 'state'
        ? { code: 'STATE_VOLUME_READ_ONLY', message: `the ${name} is read-only (EROFS): check it (fsck) and mount it writable` }
        : { code: 'BACKUP_VOLUME_READ_ONLY', message: `the ${name} is read-only (EROFS): check it (fsck) and mount it writable` };
    case 'EIO':
      return volume === 'state'
        ? { code: 'STATE_VOLUME_FAILED', message: `the ${name} answers with I/O errors (EIO): check the disk` }
        : null;
    default:
      return null;
  }
}

/**
 * The fault an SQLite error names (both databases live on the state volume),
 * or null. An I/O error says only that a write failed: `probeStateVolume`
 * tells why (full, read-only), and without an answer it is STATE_VOLUME_FAILED.
 */
export function faultOfSqliteCode(code: string, probeStateVolume: () => Fault | null = () => null): Fault | null {
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return {
      code: 'SERVER_BUSY',
      message: 'the database is locked by another process beyond the busy timeout: try again in a few seconds',
    };
  }
  if (code === 'SQLITE_FULL') return faultOfErrno('ENOSPC', 'state');
  if (code.startsWith('SQLITE_READONLY')) return faultOfErrno('EROFS', 'state');
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN') return probeStateVolume() ?? faultOfErrno('EIO', 'state');
  return null;
}

/** The fault an error thrown by a better-sqlite3 call or a file-system call names, or null. */
export function faultOfError(error: unknown, volume: Volume = 'state', probeStateVolume?: () => Fault | null): Fault | null {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  if (typeof code !== 'string') return null;
  if (name === 'SqliteError') return faultOfSqliteCode(code, probeStateVolume);
  return faultOfErrno(code, volume);
}

/** What `statfs` says of a volume: full when no block (or no inode) is left for an unprivileged writer. */
export function isVolumeFull(stats: { bavail: number; ffree: number; files: number }): boolean {
  // Some file systems (tmpfs with nr_inodes=0, btrfs) report no inode count at all: then only blocks count.
  return stats.bavail === 0 || (stats.files > 0 && stats.ffree === 0);
}

/** How far a clock may step back before it is a fault: NTP's own steps and a slewed second are not. */
export const CLOCK_STEP_TOLERANCE_MS = 5000;

/**
 * The wall clock is behind a time this process already saw (by more than the
 * tolerance): it was stepped back. The fault lasts until the clock is past
 * that time again (or is set right): until then, new records would be dated
 * before older ones, and tokens issued before the step are not yet valid.
 */
export function clockFault(latestSeenMs: number, nowMs: number): Fault | null {
  const behindMs = latestSeenMs - nowMs;
  if (behindMs <= CLOCK_STEP_TOLERANCE_MS) return null;
  return {
    code: 'CLOCK_STEPPED_BACK',
    message: `the clock was stepped back: it is ${Math.round(behindMs / 1000)} s behind a time the server already saw; set it right (NTP)`,
  };
}

/** The faults in `current` that were not in `previous` (began) and the other way round (ended), by code. */
export function compareFaults(previous: readonly Fault[], current: readonly Fault[]): { began: Fault[]; ended: Fault[] } {
  const codesOf = (faults: readonly Fault[]) => new Set(faults.map((fault) => fault.code));
  const before = codesOf(previous);
  const now = codesOf(current);
  return {
    began: current.filter((fault) => !before.has(fault.code)),
    ended: previous.filter((fault) => !now.has(fault.code)),
  };
}
