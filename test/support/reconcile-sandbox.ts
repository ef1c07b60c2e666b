import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queryable } from '../../src/db/connection.js';
import { hosts } from '../../src/db/schema.js';
import type { AccountFiles } from '../../src/root/accounts/account-files.js';
import type { ReconcileSettings } from '../../src/root/reconcile/reconcile.js';
import { TEST_HOST_KEY } from './host-rows.js';

/**
 * A temporary directory for reconcile: etc with the system's account files
 * given, state and backups, and a fake /proc, so that a test signals none of
 * this machine's processes (a test that means to passes `procDir: undefined`).
 * The caller removes `base`.
 */
export function makeReconcileSandbox(prefix: string, system: AccountFiles): { base: string; settings: ReconcileSettings } {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const etcDir = join(base, 'etc');
  mkdirSync(etcDir);
  writeFileSync(join(etcDir, 'passwd'), system.passwd);
  writeFileSync(join(etcDir, 'group'), system.group);
  writeFileSync(join(etcDir, 'shadow'), system.shadow);
  mkdirSync(join(base, 'state'));
  const procDir = join(base, 'proc');
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
  const settings = { stateDir: join(base, 'state'), backupDir: join(base, 'backups'), sshPort: 2222, etcDir, procDir };
  mkdirSync(settings.backupDir);
  return { base, settings };
}

/** An active host row written straight into the database, as a compromised API could write it: any value goes. */
export function insertHostRow(db: Queryable, name: string, uid: number, at: Date, changes: Partial<typeof hosts.$inferInsert> = {}): void {
  db.insert(hosts)
    .values({
      name,
      uid,
      keyType: 'ssh-ed25519',
      keyBase64: TEST_HOST_KEY,
      fingerprint: 'SHA256:test',
      status: 'active',
      origin: 'createuser',
      createdAt: at,
      updatedAt: at,
      ...changes,
    })
    .run();
}
