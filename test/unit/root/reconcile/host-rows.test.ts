import { describe, expect, it } from 'vitest';
import { openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { hosts } from '../../../../src/db/schema.js';
import { readHostRow, readHostRows } from '../../../../src/root/reconcile/host-rows.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIBrHwmNDEGs4Ckn6cZHWXKx7Pwx4xYTApDbSTD56D9mK';
const COLUMNS = [
  'name',
  'uid',
  'keyType',
  'keyBase64',
  'appendOnly',
  'fullAccessUntil',
  'quotaBytes',
  'allowFrom',
  'maxSessions',
  'status',
  'updatedAt',
] as const;

/** What drizzle's select of every row gives, in the columns readHostRows reads. */
function drizzleRows(db: ReturnType<typeof openMemoryRootDatabase>) {
  return db
    .select()
    .from(hosts)
    .all()
    .map((row) => Object.fromEntries(COLUMNS.map((column) => [column, row[column]])));
}

describe('readHostRows', () => {
  it('gives the values drizzle gives, booleans and dates mapped the same way, for every row', () => {
    const db = openMemoryRootDatabase();
    const base = { keyType: 'ssh-ed25519', keyBase64: KEY, fingerprint: 'SHA256:x', origin: 'createuser' as const, createdAt: new Date(0) };
    db.insert(hosts)
      .values([
        { ...base, name: 'web', uid: 20001, status: 'active', updatedAt: new Date('2026-03-02T10:00:00.123Z') },
        {
          ...base,
          name: 'db',
          uid: 20002,
          status: 'disabled',
          appendOnly: false,
          fullAccessUntil: new Date('2026-03-03T10:00:00Z'),
          quotaBytes: 5_000_000_000,
          allowFrom: '10.0.0.0/8',
          maxSessions: 4,
          updatedAt: new Date(0),
        },
      ])
      .run();
    // What a compromised API could write around the schema's types: odd values stay as odd as drizzle gives them.
    db.$client
      .prepare(
        `insert into hosts (name, uid, key_type, key_base64, fingerprint, append_only, full_access_until, quota_bytes,
         status, origin, created_at, updated_at) values ('odd', '20003', 7, x'00', 'f', 2, 'soon', 1.5, 'purging', 'import', 0, -1)`,
      )
      .run();

    const rows = readHostRows(db);
    expect(rows).toEqual(drizzleRows(db));
    expect(rows.map((row) => typeof row.uid)).toEqual(drizzleRows(db).map((row) => typeof row.uid));
    // Read again through the same statement: the same again, after drizzle used the connection.
    expect(readHostRows(db)).toEqual(rows);
    // One row by name: the same values as the same row of every row.
    for (const row of rows) expect(readHostRow(db, String(row.name))).toEqual(row);
    expect(readHostRow(db, 'absent')).toBeUndefined();
  });

  it('gives no rows for no hosts', () => {
    expect(readHostRows(openMemoryRootDatabase())).toEqual([]);
  });
});
