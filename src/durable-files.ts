import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** Puts the entries of `directory` (a file just renamed or linked into it) on disk too, not only the file's bytes. */
export function syncDirectory(directory: string): void {
  const descriptor = openSync(directory, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

/** Creates `path` (refused if it exists), 0600, with the whole of `content`, on disk before it returns. */
export function writeNewFileSynced(path: string, content: string | Buffer): void {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  const descriptor = openSync(path, 'wx', 0o600);
  try {
    // A write may take fewer bytes than it was given: go on until the whole content is in.
    for (let written = 0; written < bytes.length; ) written += writeSync(descriptor, bytes, written);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
