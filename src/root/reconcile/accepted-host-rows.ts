import type { hosts } from '../../db/schema.js';
import { renderAuthorizedKeysLine } from '../../domain/authorized-keys.js';
import { isValidHostName } from '../../domain/host-name.js';
import { HOST_ACCOUNT_UID_MAX, HOST_ACCOUNT_UID_MIN, isHostAccountUid } from '../../domain/host-uid.js';
import type { SshKeyType } from '../../domain/ssh-public-key.js';
import type { KeyLineMemo } from './key-line-memo.js';

/** What the check reads of a row. */
type CheckedHostRow = Pick<typeof hosts.$inferSelect, 'name' | 'uid' | 'status' | 'keyType' | 'keyBase64' | 'quotaBytes' | 'allowFrom'>;

/** A host row reconcile leaves alone, and why. */
export interface RefusedHost {
  name: string;
  reason: string;
}

/** The names and UIDs of the rows a pass checked: what one changed row is checked against without reading every row. */
export interface CheckedHostIndex {
  /** The name of the checked row with each UID. */
  nameByUid: Map<unknown, string>;
  /** Whether two checked rows share a name or a UID (both refused): a change of one of them decides the other's fate too. */
  hasSharedRows: boolean;
}

/**
 * The rows reconcile may act on. The database is the unprivileged API's: a
 * compromised API can write any row, even around the schema's constraints,
 * so before root makes an account, a directory or a key line from a row, or
 * deletes a directory for it, the row is checked again with the rules it was
 * written by: a valid host name (it becomes a path and a passwd field), a
 * UID in the host range (never root's or a system account's), no UID or
 * name shared with another row, and, for a live host, values a key line can
 * be made of. A refused row is reported and nothing is done for it.
 * With `keyLines`, a row whose values were checked before is not parsed again.
 */
export function acceptedHostRows<Row extends CheckedHostRow>(
  rows: Row[],
  backupDir: string,
  keyLines?: KeyLineMemo,
): { accepted: Row[]; refused: RefusedHost[]; index: CheckedHostIndex } {
  const refused: RefusedHost[] = [];
  const render = keyLines ? keyLines.render : renderAuthorizedKeysLine;
  const checked = rows.filter((row) => {
    const reason = reasonToRefuse(row, backupDir, render);
    if (reason !== null) refused.push({ name: String(row.name), reason });
    return reason === null;
  });
  const countOf = (values: unknown[]) =>
    values.reduce<Map<unknown, number>>((counts, value) => counts.set(value, (counts.get(value) ?? 0) + 1), new Map());
  const uidCounts = countOf(checked.map((row) => row.uid));
  const nameCounts = countOf(checked.map((row) => row.name));
  const accepted = checked.filter((row) => {
    if ((nameCounts.get(row.name) ?? 0) > 1) refused.push({ name: row.name, reason: 'another row has the same name' });
    else if ((uidCounts.get(row.uid) ?? 0) > 1) refused.push({ name: row.name, reason: `another row has UID ${row.uid} too` });
    else return true;
    return false;
  });
  const hasSharedRows = [...uidCounts.values(), ...nameCounts.values()].some((count) => count > 1);
  return { accepted, refused, index: { nameByUid: new Map(checked.map((row) => [row.uid, row.name])), hasSharedRows } };
}

/**
 * The one row a change of one host wrote, checked with the same rules as
 * acceptedHostRows against the index of the last pass (every other row as it
 * was then): null when it is accepted, else why a pass of every row would
 * refuse it (or the row that has its UID). The index must have no shared rows.
 */
export function refusalOfChangedRow(
  row: CheckedHostRow,
  index: CheckedHostIndex,
  backupDir: string,
  keyLines?: KeyLineMemo,
): RefusedHost | null {
  const reason = reasonToRefuse(row, backupDir, keyLines ? keyLines.render : renderAuthorizedKeysLine);
  if (reason !== null) return { name: String(row.name), reason };
  const holder = index.nameByUid.get(row.uid);
  if (holder !== undefined && holder !== row.name) return { name: row.name, reason: `another row has UID ${row.uid} too` };
  return null;
}

/** The index after `row` (accepted by refusalOfChangedRow) replaced the row of its name that had `previousUid`. */
export function recordChangedRow(index: CheckedHostIndex, row: CheckedHostRow, previousUid: unknown): void {
  if (index.nameByUid.get(previousUid) === row.name) index.nameByUid.delete(previousUid);
  index.nameByUid.set(row.uid, row.name);
}

function reasonToRefuse(row: CheckedHostRow, backupDir: string, render: typeof renderAuthorizedKeysLine): string | null {
  if (typeof row.name !== 'string' || !isValidHostName(row.name)) return 'the name is not a valid host name';
  if (!isHostAccountUid(row.uid)) {
    return `UID ${JSON.stringify(row.uid)} is not a host UID (${HOST_ACCOUNT_UID_MIN}-${HOST_ACCOUNT_UID_MAX}, not the hosts group's)`;
  }
  if (row.status !== 'active' && row.status !== 'disabled') return null;
  try {
    const host = {
      name: row.name,
      keyType: row.keyType as SshKeyType,
      keyBase64: row.keyBase64,
      appendOnly: true,
      quotaBytes: row.quotaBytes,
      allowFrom: row.allowFrom,
    };
    render(host, backupDir);
  } catch (error) {
    return `no key line can be made of it: ${(error as Error).message}`;
  }
  return null;
}
