import { closeSync, fsyncSync, openSync } from 'node:fs';

/** Puts the entries of `directory` (a file just renamed or linked into it) on disk too, not only the file's bytes. */
export function syncDirectory(directory: string): void {
  const descriptor = openSync(directory, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
