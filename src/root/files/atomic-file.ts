import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FileOwnership {
  uid: number;
  gid: number;
  mode: number;
}

/** The file's content, or null when it does not exist. */
export function readTextIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Writes a whole file next to its target, fsyncs it, sets owner and mode, and
 * renames it into place: readers see the old file or the new one, never half.
 */
export function writeFileAtomically(path: string, content: string | Buffer, ownership: FileOwnership): void {
  const temporary = `${dirname(path)}/.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`;
  const descriptor = openSync(temporary, 'wx', 0o600);
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    // A write may take fewer bytes than it was given: go on until the whole content is in.
    for (let written = 0; written < bytes.length; ) written += writeSync(descriptor, bytes, written);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  try {
    chownSync(temporary, ownership.uid, ownership.gid);
    // chmod after chown: chown may clear mode bits, and the mode must be exact.
    chmodSync(temporary, ownership.mode);
    renameSync(temporary, path);
  } catch (error) {
    unlinkSync(temporary);
    throw error;
  }
}
