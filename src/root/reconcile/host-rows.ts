import type Database from 'better-sqlite3';
import type { Db } from '../../db/connection.js';
import type { hosts } from '../../db/schema.js';

/** The columns of a host row that reconcile and the watches (session cap, repository watch) use. */
export type ReconcileHostRow = Pick<
  typeof hosts.$inferSelect,
  | 'name'
  | 'uid'
  | 'keyType'
  | 'keyBase64'
  | 'appendOnly'
  | 'fullAccessUntil'
  | 'quotaBytes'
  | 'allowFrom'
  | 'maxSessions'
  | 'status'
  | 'updatedAt'
>;

const SELECT_HOST_ROWS = `select "name", "uid", "key_type", "key_base64", "append_only", "full_access_until", "quota_bytes",
  "allow_from", "max_sessions", "status", "updated_at" from "hosts"`;

type RawHostRow = [unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown];

const SELECT_HOST_ROW_BY_NAME = `${SELECT_HOST_ROWS} where "name" = ?`;

const statements = new WeakMap<Database.Database, { all: Database.Statement; byName: Database.Statement }>();

/** This connection's two statements, prepared once, in raw mode (arrays): statements this module alone uses. */
function statementsOf(db: Db): { all: Database.Statement; byName: Database.Statement } {
  const client = db.$client;
  let prepared = statements.get(client);
  if (prepared === undefined) {
    // Not asked of the statement cache: it hands a cached statement back in object mode, these are kept here.
    prepared = { all: client.prepare(SELECT_HOST_ROWS).raw(true), byName: client.prepare(SELECT_HOST_ROW_BY_NAME).raw(true) };
    statements.set(client, prepared);
  }
  return prepared;
}

/** One raw row as drizzle's select maps it (see readHostRows). */
function hostRowOf(raw: RawHostRow): ReconcileHostRow {
  const [name, uid, keyType, keyBase64, appendOnly, fullAccessUntil, quotaBytes, allowFrom, maxSessions, status, updatedAt] = raw;
  return {
    name,
    uid,
    keyType,
    keyBase64,
    appendOnly: appendOnly === null ? null : Number(appendOnly) === 1,
    fullAccessUntil: fullAccessUntil === null ? null : new Date(fullAccessUntil as number),
    quotaBytes,
    allowFrom,
    maxSessions,
    status,
    updatedAt: updatedAt === null ? null : new Date(updatedAt as number),
  } as ReconcileHostRow;
}

/**
 * Every host row, with the values drizzle's `select().from(hosts)` gives
 * (append_only as `Number(value) === 1`, the timestamp_ms columns as
 * `new Date(value)`, null as null, every other value as SQLite holds it: a row
 * may hold anything, and is checked by acceptedHostRows), from one statement
 * prepared once per connection and without drizzle's mapping of each column of
 * each row, which was the largest part of a pass at 10,000 hosts (issue 19).
 */
export function readHostRows(db: Db): ReconcileHostRow[] {
  const raw = statementsOf(db).all.all() as RawHostRow[];
  const rows: ReconcileHostRow[] = new Array(raw.length);
  for (let index = 0; index < raw.length; index += 1) rows[index] = hostRowOf(raw[index] as RawHostRow);
  return rows;
}

/** The row named `name`, as readHostRows gives it, or undefined: what a pass for one host reads. */
export function readHostRow(db: Db, name: string): ReconcileHostRow | undefined {
  const raw = statementsOf(db).byName.get(name) as RawHostRow | undefined;
  return raw === undefined ? undefined : hostRowOf(raw);
}
