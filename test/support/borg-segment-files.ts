import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMIT_ENTRY } from '../../src/domain/borg-segments.js';

/**
 * A borg segment file of `size` bytes (sparse, so large ones cost nothing),
 * ending with borg's commit entry when `isCommitted`: enough of a repository
 * for the code that measures and trims one without running borg.
 */
export function writeSegment(repository: string, number: number, size: number, isCommitted: boolean): void {
  const directory = join(repository, 'data', String(Math.floor(number / 1000)));
  mkdirSync(directory, { recursive: true });
  const path = join(directory, String(number));
  writeFileSync(path, 'BORG_SEG');
  truncateSync(path, size - COMMIT_ENTRY.length);
  writeFileSync(path, isCommitted ? COMMIT_ENTRY : Buffer.from('not-commi'), { flag: 'a' });
}
