import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, unlinkSync } from 'node:fs';
import {
  CONFIG_HISTORY_LIMITS,
  configVersionName,
  configVersionsToDrop,
  configVersionTime,
  lastConfigVersionBefore,
  newestConfigVersion,
  withoutCheckProgress,
} from '../../domain/config-versions.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { ensureDirectory } from '../files/directories.js';

/**
 * Versions of each repository's `config` (it holds the repository key), kept
 * by root beside the repository where its host can neither read nor write
 * them: `BACKUP_DIR/NAME/repo-config-history/config.TIME`, within the limits
 * of CONFIG_HISTORY_LIMITS (the first versions and the newest ones).
 */

export function configHistoryDir(backupDir: string, name: string): string {
  return `${backupDir}/${name}/repo-config-history`;
}

function versions(directory: string): string[] {
  return existsSync(directory) ? readdirSync(directory) : [];
}

/**
 * The host's config as it is now, or null when there is none to keep (missing,
 * not a regular file, or bigger than any borg config). Opened without
 * following a link and checked on the descriptor, so that a link swapped in
 * between a check and the read makes root read nothing else; O_NONBLOCK so
 * that a FIFO put there does not hang the watch.
 */
function readHostConfig(configPath: string): string | null {
  let descriptor: number;
  try {
    descriptor = openSync(configPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENXIO') return null;
    throw error;
  }
  try {
    const stats = fstatSync(descriptor);
    if (!stats.isFile() || stats.size > CONFIG_HISTORY_LIMITS.maxVersionBytes) return null;
    const buffer = Buffer.alloc(stats.size);
    let read = 0;
    while (read < buffer.length) {
      const count = readSync(descriptor, buffer, read, buffer.length - read, read);
      if (count === 0) break;
      read += count;
    }
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(descriptor);
  }
}

/** Keeps a copy of the repository's config when it differs from the last kept one; returns whether it did. */
export function recordConfigVersion(backupDir: string, name: string, seenAt: Date): boolean {
  const content = readHostConfig(`${backupDir}/${name}/repo/config`);
  if (content === null) return false;
  const directory = configHistoryDir(backupDir, name);
  const newest = newestConfigVersion(versions(directory));
  // The server's own partial checks move a progress line in it: no new version for that.
  if (newest !== null && withoutCheckProgress(readFileSync(`${directory}/${newest}`, 'utf8')) === withoutCheckProgress(content))
    return false;
  ensureDirectory(directory, { uid: 0, gid: 0, mode: 0o700 });
  const path = `${directory}/${configVersionName(seenAt)}`;
  // Two versions in one millisecond: the first one seen stays.
  if (existsSync(path)) return false;
  writeFileAtomically(path, content, { uid: 0, gid: 0, mode: 0o600 });
  trimConfigHistory(directory);
  return true;
}

function keptVersions(directory: string): { name: string; bytes: number }[] {
  return versions(directory)
    .filter((name) => configVersionTime(name) !== null)
    .map((name) => ({ name, bytes: lstatSync(`${directory}/${name}`).blocks * 512 }));
}

function trimConfigHistory(directory: string): void {
  for (const name of configVersionsToDrop(keptVersions(directory))) unlinkSync(`${directory}/${name}`);
}

/** When the kept versions were seen, oldest first (the newest ones are all kept: enough to see a churn). */
export function configVersionTimes(backupDir: string, name: string): Date[] {
  return versions(configHistoryDir(backupDir, name))
    .map(configVersionTime)
    .filter((time): time is Date => time !== null)
    .sort((a, b) => a.getTime() - b.getTime());
}

/** Disk space the kept versions take (in blocks): it counts against the host's quota. */
export function configHistoryBytes(backupDir: string, name: string): number {
  return keptVersions(configHistoryDir(backupDir, name)).reduce((total, version) => total + version.bytes, 0);
}

/** The content of the last config version seen before `before`, or null when none was kept. */
export function configVersionBefore(backupDir: string, name: string, before: Date): string | null {
  const directory = configHistoryDir(backupDir, name);
  const chosen = lastConfigVersionBefore(versions(directory), before);
  return chosen === null ? null : readFileSync(`${directory}/${chosen}`, 'utf8');
}
