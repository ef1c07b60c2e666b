import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, type Stats } from 'node:fs';
import { AppError } from './errors.js';

/**
 * Files in a directory another account controls (the API user's db/, a
 * host's repository), read or handed over by root without following a link
 * that account may have put there: opened with O_NOFOLLOW, then checked and
 * changed through the descriptor, never by name again. A hard link to
 * someone else's file is refused too (it has a second name).
 */

const OPEN_FOR_READING = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

function refusal(path: string, what: string): AppError {
  return new AppError('UNSAFE_PATH', `refusing ${path}: ${what}; remove it or put a regular file there`);
}

function openWithoutFollowing(path: string): number | null {
  try {
    return openSync(path, OPEN_FOR_READING);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw refusal(path, 'it is a symbolic link');
    throw error;
  }
}

function checkRegularFile(path: string, stats: Stats, mayHaveOtherNames = false): void {
  if (!stats.isFile()) throw refusal(path, 'it is not a regular file');
  if (stats.nlink !== 1 && !mayHaveOtherNames) throw refusal(path, `it has ${stats.nlink} names (a hard link)`);
}

export type ReadOptions = { mayHaveOtherNames?: boolean; ownedBy?: number };

/** A descriptor of `path` once it is checked as readRegularFileIfExists describes, or null when there is none. */
function openCheckedFile(path: string, { mayHaveOtherNames = false, ownedBy }: ReadOptions): number | null {
  const descriptor = openWithoutFollowing(path);
  if (descriptor === null) return null;
  try {
    const stats = fstatSync(descriptor);
    checkRegularFile(path, stats, mayHaveOtherNames);
    if (ownedBy !== undefined && stats.uid !== ownedBy) throw refusal(path, `it is owned by UID ${stats.uid}, not ${ownedBy}`);
    return descriptor;
  } catch (error) {
    closeSync(descriptor);
    throw error;
  }
}

/**
 * The content of a regular file, or null when there is none; a link or
 * anything else is refused. `mayHaveOtherNames` lets a hard-linked file
 * through, for readers that run as the file's owner (a repository's files
 * have a second name in the copy a restore keeps) or that ask for the
 * owner with `ownedBy`: a hard link can then only reach what that UID owns.
 */
export function readRegularFileIfExists(path: string, options: ReadOptions = {}): string | null {
  const descriptor = openCheckedFile(path, options);
  if (descriptor === null) return null;
  try {
    return readFileSync(descriptor, 'utf8');
  } finally {
    closeSync(descriptor);
  }
}

const CHUNK_BYTES = 65_536;
/** Longer lines are skipped, not gathered: a file someone else wrote cannot make the reader hold it whole. */
export const MAX_LINE_BYTES = 4096;

function* linesOf(descriptor: number): Generator<string> {
  const chunk = Buffer.alloc(CHUNK_BYTES);
  // The start of a line the last chunk cut off; null while skipping an overlong line to its end.
  let partial: Buffer | null = Buffer.alloc(0);
  for (let got = readSync(descriptor, chunk); got > 0; got = readSync(descriptor, chunk)) {
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1 && newline < got; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline);
      if (partial !== null && partial.length + piece.length <= MAX_LINE_BYTES) yield Buffer.concat([partial, piece]).toString('utf8');
      partial = Buffer.alloc(0);
      start = newline + 1;
    }
    if (partial !== null)
      partial = partial.length + (got - start) <= MAX_LINE_BYTES ? Buffer.concat([partial, chunk.subarray(start, got)]) : null;
  }
  if (partial !== null && partial.length > 0) yield partial.toString('utf8');
}

/**
 * Calls `read` with the lines of a regular file checked as
 * readRegularFileIfExists does, read a chunk at a time (a line over
 * MAX_LINE_BYTES is skipped), so a long file never sits in memory whole.
 * Null when there is no file.
 */
export function readLinesOfRegularFileIfExists<T>(path: string, options: ReadOptions, read: (lines: Iterable<string>) => T): T | null {
  const descriptor = openCheckedFile(path, options);
  if (descriptor === null) return null;
  try {
    return read(linesOf(descriptor));
  } finally {
    closeSync(descriptor);
  }
}
