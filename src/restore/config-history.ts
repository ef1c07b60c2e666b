import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { configVersionName, lastConfigVersionBefore, newestConfigVersion } from '../domain/config-versions.js';
import { writeFileAtomically } from '../provision/atomic-file.js';
import { ensureDirectory } from '../provision/directories.js';

/**
 * Versions of each repository's `config` (it holds the repository key), kept
 * by root beside the repository where its host can neither read nor write
 * them: `BACKUP_DIR/NAME/repo-config-history/config.TIME`.
 */

export function configHistoryDir(backupDir: string, name: string): string {
  return `${backupDir}/${name}/repo-config-history`;
}

function versions(directory: string): string[] {
  return existsSync(directory) ? readdirSync(directory) : [];
}

/** Keeps a copy of the repository's config when it differs from the last kept one; returns whether it did. */
export function recordConfigVersion(backupDir: string, name: string, seenAt: Date): boolean {
  const configPath = `${backupDir}/${name}/repo/config`;
  let content: string;
  try {
    // Never follow a symlink the host may have put there.
    if (!lstatSync(configPath).isFile()) return false;
    content = readFileSync(configPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const directory = configHistoryDir(backupDir, name);
  const newest = newestConfigVersion(versions(directory));
  if (newest !== null && readFileSync(`${directory}/${newest}`, 'utf8') === content) return false;
  ensureDirectory(directory, { uid: 0, gid: 0, mode: 0o700 });
  const path = `${directory}/${configVersionName(seenAt)}`;
  // Two versions in one millisecond: the first one seen stays.
  if (existsSync(path)) return false;
  writeFileAtomically(path, content, { uid: 0, gid: 0, mode: 0o600 });
  return true;
}

/** The content of the last config version seen before `before`, or null when none was kept. */
export function configVersionBefore(backupDir: string, name: string, before: Date): string | null {
  const directory = configHistoryDir(backupDir, name);
  const chosen = lastConfigVersionBefore(versions(directory), before);
  return chosen === null ? null : readFileSync(`${directory}/${chosen}`, 'utf8');
}
