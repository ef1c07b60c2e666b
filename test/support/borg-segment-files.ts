import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The commit entry borg ends a committed segment with: crc32, size 9, tag 2 (LoggedIO.COMMIT). */
export const COMMIT_ENTRY = Buffer.from('40f43c250900000002', 'hex');

/**
 * A borg segment file of `size` bytes, all of them on disk (not sparse),
 * ending with borg's commit entry when `isCommitted`, which also writes the
 * `index.N` borg writes at a commit: enough of a repository for the code that
 * measures and trims one without running borg.
 */
export function writeSegment(repository: string, number: number, size: number, isCommitted: boolean): void {
  const directory = join(repository, 'data', String(Math.floor(number / 1000)));
  mkdirSync(directory, { recursive: true });
  const path = join(directory, String(number));
  const descriptor = openSync(path, 'w');
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    chunk.write('BORG_SEG');
    let left = size - COMMIT_ENTRY.length;
    while (left > 0) left -= writeSync(descriptor, chunk, 0, Math.min(left, chunk.length));
    writeSync(descriptor, isCommitted ? COMMIT_ENTRY : Buffer.from('not-commi'));
  } finally {
    closeSync(descriptor);
  }
  if (isCommitted) markCommitted(repository, number);
}

/** What borg's Repository.write_index leaves after committing transaction N: index.N, hints.N, integrity.N, and no older ones. */
export function markCommitted(repository: string, transaction: number): void {
  for (const name of readdirSync(repository)) {
    if (/^(index|hints|integrity)\.\d+$/.test(name)) rmSync(join(repository, name));
  }
  for (const kind of ['index', 'hints', 'integrity'])
    writeFileSync(join(repository, `${kind}.${transaction}`), `${kind} of ${transaction}`);
}
