import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAdminToken } from '../../../src/api/admin/admin-tokens.js';
import { MIGRATIONS_DIR, migrateDatabase, openDatabase } from '../../../src/db/connection.js';

const ROLES_MIGRATION = '0008_admin_token_roles';
const NOW = new Date('2026-03-02T10:00:00Z');

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-roles-migration-'));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** The committed migrations up to (not including) `tag`, as a release before it shipped them. */
function migrationsBefore(tag: string): string {
  const folder = join(directory, 'migrations-before');
  mkdirSync(join(folder, 'meta'), { recursive: true });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  const index = journal.entries.findIndex((entry) => entry.tag === tag);
  expect(index).toBeGreaterThan(0);
  const entries = journal.entries.slice(0, index);
  for (const entry of entries) copyFileSync(join(MIGRATIONS_DIR, `${entry.tag}.sql`), join(folder, `${entry.tag}.sql`));
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries }));
  return folder;
}

describe(`migration ${ROLES_MIGRATION}`, () => {
  it('makes every admin token that existed before roles an admin token that does not expire', () => {
    const path = join(directory, 'borg.db');
    const before = openDatabase(path);
    migrate(before, { migrationsFolder: migrationsBefore(ROLES_MIGRATION) });
    // A token as the release before roles wrote it: no role, no expiry, the SHA-256 of its secret.
    const secret = 'A'.repeat(43);
    before.$client
      .prepare('insert into admin_tokens (id, label, secret_hash, created_at) values (?, ?, ?, ?)')
      .run('oldtoken0001', 'laptop', sha256Hex(secret), NOW.getTime());
    before.$client.close();

    const after = openDatabase(path);
    migrateDatabase(after);
    expect(after.$client.prepare('select id, role, expires_at from admin_tokens').all()).toEqual([
      { id: 'oldtoken0001', role: 'admin', expires_at: null },
    ]);
    expect(verifyAdminToken(after, `bsa_oldtoken0001_${secret}`, NOW)).toEqual({ id: 'oldtoken0001', label: 'laptop', role: 'admin' });
    after.$client.close();
  });
});

function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
