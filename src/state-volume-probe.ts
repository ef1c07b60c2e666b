import { unlinkSync, writeFileSync } from 'node:fs';
import { type Fault, faultOfErrno } from './domain/faults.js';

/**
 * Why the state volume takes no write now (full, read-only, failing), or
 * null: a small file written at `probePath` and removed. Root and the API
 * each probe with a file of their own, in a directory of their own.
 */
export function probeStateVolume(probePath: string): Fault | null {
  try {
    // A few bytes, not an empty file: a full tmpfs still gives an inode.
    writeFileSync(probePath, 'probe\n', { mode: 0o600 });
    unlinkSync(probePath);
    return null;
  } catch (error) {
    return faultOfErrno((error as NodeJS.ErrnoException).code, 'state');
  }
}
