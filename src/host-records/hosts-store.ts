import { and, eq, inArray, max, ne } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { hosts } from '../db/schema.js';
import { AppError } from '../errors.js';
import { uidsRunningIn } from '../process/process-table.js';

/** UIDs given to host accounts: above Debian's dynamic range, below nobody. */
export const HOST_UID_MIN = 20000;
export const HOST_UID_MAX = 59999;

export type HostRow = typeof hosts.$inferSelect;

export function findHost(db: Queryable, name: string): HostRow | undefined {
  return db.select().from(hosts).where(eq(hosts.name, name)).get();
}

/** A host that holds its name: active or disabled (a deleted one can be enrolled again). */
export function findLiveHost(db: Queryable, name: string): HostRow | undefined {
  return db
    .select()
    .from(hosts)
    .where(and(eq(hosts.name, name), ne(hosts.status, 'deleted'), ne(hosts.status, 'purging')))
    .get();
}

/**
 * A host row that holds the name: a live host, or a deleted one whose
 * repository is kept. Enrolling such a name is a conflict for the admin.
 */
export function findNameHolder(db: Queryable, name: string): HostRow | undefined {
  return db
    .select()
    .from(hosts)
    .where(and(eq(hosts.name, name), ne(hosts.status, 'purging')))
    .get();
}

/** Names held (as findNameHolder says) among `names`, in one query per 500 names rather than one per name. */
export function findHeldNames(db: Queryable, names: Iterable<string>): Set<string> {
  const wanted = [...new Set(names)];
  const held = new Set<string>();
  // SQLite caps the variables of one statement: ask in slices.
  for (let start = 0; start < wanted.length; start += HELD_NAMES_PER_QUERY) {
    const slice = wanted.slice(start, start + HELD_NAMES_PER_QUERY);
    const rows = db
      .select({ name: hosts.name })
      .from(hosts)
      .where(and(inArray(hosts.name, slice), ne(hosts.status, 'purging')))
      .all();
    for (const row of rows) held.add(row.name);
  }
  return held;
}

const HELD_NAMES_PER_QUERY = 500;

/**
 * Next free UID: one past the highest, or the lowest gap once the top is
 * reached. A UID some process still runs as is not free (a purged host's
 * session may not be gone yet): it is skipped, so a new host never shares
 * the processes or files of an old one. `procDir` is for tests.
 */
export function allocateUid(db: Queryable, procDir = '/proc'): number {
  const highest =
    db
      .select({ uid: max(hosts.uid) })
      .from(hosts)
      .get()?.uid ?? HOST_UID_MIN - 1;
  const taken = new Set(
    db
      .select({ uid: hosts.uid })
      .from(hosts)
      .all()
      .map((row) => row.uid),
  );
  const running = uidsRunningIn(HOST_UID_MIN, HOST_UID_MAX, procDir);
  const isFree = (uid: number) => !taken.has(uid) && !running.has(uid);
  for (let uid = Math.max(highest + 1, HOST_UID_MIN); uid <= HOST_UID_MAX; uid += 1) if (isFree(uid)) return uid;
  for (let uid = HOST_UID_MIN; uid <= HOST_UID_MAX; uid += 1) if (isFree(uid)) return uid;
  throw new AppError('UID_RANGE_EXHAUSTED', 'no free UID left for a new host');
}

export interface HostKeyAndPolicy {
  name: string;
  keyType: string;
  keyBase64: string;
  fingerprint: string;
  appendOnly: boolean;
  quotaBytes: number | null;
  allowFrom: string | null;
  /** Set from the enrollment token; left as it is when undefined. */
  expectBackupEveryMs?: number | null;
  origin: HostRow['origin'];
  enrollmentId: string | null;
  uid?: number;
}

/**
 * Creates the host, or gives an existing (or deleted) one a new key, keeping
 * its UID so that its repository keeps its owner.
 */
export function upsertHost(db: Queryable, host: HostKeyAndPolicy, now: Date): HostRow {
  const existing = findHost(db, host.name);
  const { uid: requestedUid, ...values } = host;
  if (existing?.status === 'purging') {
    // Its data is about to be removed; reviving the row now would hand that data over instead.
    throw new AppError('HOST_NAME_TAKEN', `host "${host.name}" is being purged; try again in a moment`);
  }
  if (existing) {
    // A new key is a new trust decision: a full-access window given to the old one ends.
    db.update(hosts)
      .set({ ...values, fullAccessUntil: null, status: existing.status === 'disabled' ? 'disabled' : 'active', updatedAt: now })
      .where(eq(hosts.name, host.name))
      .run();
  } else {
    const uid = requestedUid ?? allocateUid(db);
    db.insert(hosts)
      .values({ ...values, uid, status: 'active', createdAt: now, updatedAt: now })
      .run();
  }
  const row = findHost(db, host.name);
  if (!row) throw new Error('host vanished inside its own transaction');
  return row;
}
