import type { Queryable } from '../../src/db/connection.js';
import { hosts } from '../../src/db/schema.js';
import { type HostKeyAndPolicy, type HostRow, upsertHost } from '../../src/host-records/hosts-store.js';

/** A real ed25519 public key (its base64), for rows whose key line is rendered. */
export const TEST_HOST_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIBrHwmNDEGs4Ckn6cZHWXKx7Pwx4xYTApDbSTD56D9mK';

/**
 * A host row as `borgctl createuser NAME KEY` makes it (append-only, no quota,
 * no source range), written straight to the database; a test passes only the
 * fields it is about.
 */
export function addHostRow(db: Queryable, name: string, at: Date, fields: Partial<HostKeyAndPolicy> = {}): HostRow {
  return upsertHost(db, { ...createuserFields(name), ...fields }, at);
}

/**
 * A host as root serves it and as the API shows it: the row in root's own
 * database and its copy in the API's, as an approval leaves them.
 */
export function addServedHostRow(
  databases: { db: Queryable; rootDb: Queryable },
  name: string,
  at: Date,
  fields: Partial<HostKeyAndPolicy> = {},
): HostRow {
  const row = addHostRow(databases.rootDb, name, at, fields);
  databases.db.insert(hosts).values(row).run();
  return row;
}

/** Rows per INSERT: far below SQLite's 32,766 bound variables for the hosts table's columns. */
const ROWS_PER_INSERT = 500;

/**
 * Many new hosts as addHostRow makes them, `count` of them named by `nameOf`
 * with UIDs from `firstUid` up, in multi-row INSERTs: 10,000 upserts one by
 * one (three statements each) take seconds of a test's time.
 */
export function addManyHostRows(db: Queryable, count: number, nameOf: (index: number) => string, at: Date, firstUid: number): void {
  for (let start = 0; start < count; start += ROWS_PER_INSERT) {
    const rows = [];
    for (let index = start; index < Math.min(count, start + ROWS_PER_INSERT); index += 1) {
      rows.push({ ...createuserFields(nameOf(index)), uid: firstUid + index, status: 'active' as const, createdAt: at, updatedAt: at });
    }
    db.insert(hosts).values(rows).run();
  }
}

function createuserFields(name: string): HostKeyAndPolicy {
  return {
    name,
    keyType: 'ssh-ed25519',
    keyBase64: TEST_HOST_KEY,
    fingerprint: `SHA256:${name}`,
    appendOnly: true,
    quotaBytes: null,
    allowFrom: null,
    origin: 'createuser',
    enrollmentId: null,
  };
}
