import { chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { chownTree } from '../../src/root/files/directories.js';

/**
 * Gives a repository a test made as root the owners reconcile gives a real
 * one: BACKUP_DIR root 0711, BACKUP_DIR/NAME root:UID 0710, the repository
 * and all in it UID:UID. Root works inside a repository only as its owner.
 */
export function giveRepositoryToHost(backupDir: string, name: string, uid: number): void {
  chmodSync(backupDir, 0o711);
  chownSync(join(backupDir, name), 0, uid);
  chmodSync(join(backupDir, name), 0o710);
  chownTree(join(backupDir, name, 'repo'), uid, uid);
}
