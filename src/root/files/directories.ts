import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import type { FileOwnership } from './atomic-file.js';

/**
 * Makes `path` a real directory (never a symlink) with exactly this owner and
 * mode; returns whether anything had to change. Not recursive on purpose:
 * repository contents belong to the host.
 */
export function ensureDirectory(path: string, ownership: FileOwnership): boolean {
  let stats = lstatOrNull(path);
  let changed = false;
  if (stats === null) {
    mkdirSync(path, { mode: 0o700 });
    stats = lstatSync(path);
    changed = true;
  }
  if (!stats.isDirectory()) throw new Error(`${path} exists and is not a directory`);
  if (stats.uid !== ownership.uid || stats.gid !== ownership.gid) {
    chownSync(path, ownership.uid, ownership.gid);
    changed = true;
  }
  if ((stats.mode & 0o7777) !== ownership.mode || changed) {
    chmodSync(path, ownership.mode);
    changed = true;
  }
  return changed;
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Gives a whole tree to a new owner without following symlinks (used when an import must move a UID). */
export function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) chownTree(`${path}/${entry}`, uid, gid);
}
