import { and, asc, count, eq, inArray } from 'drizzle-orm';
import {
  MAX_GRANTED_HOSTS,
  type MaintainerChange,
  type MaintainerChangeAnswer,
  type MaintainerMessage,
  type MaintenanceAcknowledgementAnswer,
} from '../../channel/maintainer-change.js';
import type { Db, Queryable } from '../../db/connection.js';
import { hosts, maintainerGrants, maintainers } from '../../db/root-schema.js';
import { parseHostName } from '../../domain/host-name.js';
import { parseMaintainerName } from '../../domain/maintainer-name.js';
import { parseAllowFrom } from '../../domain/networks.js';
import { parseSshPublicKey } from '../../domain/ssh-public-key.js';
import { AppError } from '../../errors.js';
import { findLiveHost } from '../../host-records/hosts-store.js';
import { releaseMaintenance } from '../../host-records/maintenance-holds.js';
import { reportMaintenanceHold } from '../reports/report-to-api.js';

/**
 * Root's side of every change of a maintainer the API asks for, checked as a
 * change of a host is (host-requests.ts): a valid name, a key root parses and
 * fingerprints itself and that no host nor other maintainer holds (sshd takes
 * the first line a key matches: a VM's key registered as a maintainer would
 * lift its append-only), a from= range root parses, and live hosts of root's
 * own to grant. So a hostile API process can ask only what an admin could.
 * The answer is the maintainer as root now serves it.
 */
export function changeMaintainer(db: Db, change: MaintainerChange, options: { now: Date }): MaintainerChangeAnswer {
  const name = parseMaintainerName(change.name);
  const { now } = options;
  return db.transaction((tx) => {
    const previous = readMaintainer(tx, name);
    if (change.action !== 'add' && previous === null) throw new AppError('NOT_FOUND', `no maintainer named "${name}"`);
    switch (change.action) {
      case 'add':
        addMaintainer(tx, name, change, previous, now);
        break;
      case 'grant':
        grantHosts(tx, name, checkedHostNames(tx, change.hosts, { mustBeLive: true }), change.all, now);
        break;
      case 'revoke':
        revokeHosts(tx, name, checkedHostNames(tx, change.hosts, { mustBeLive: false }), change.all, now);
        break;
      case 'remove':
        tx.delete(maintainers).where(eq(maintainers.name, name)).run();
        break;
    }
    return { maintainer: readMaintainer(tx, name), previous };
  });
}

function addMaintainer(
  tx: Queryable,
  name: string,
  change: Extract<MaintainerChange, { action: 'add' }>,
  previous: MaintainerMessage | null,
  now: Date,
): void {
  const key = parseSshPublicKey(`${change.keyType} ${change.keyBase64}`);
  const allowFrom = parseAllowFrom(change.allowFrom);
  const host = tx.select({ name: hosts.name }).from(hosts).where(eq(hosts.fingerprint, key.fingerprint)).get();
  if (host) throw new AppError('BAD_REQUEST', `that key is host "${host.name}"'s own: a maintainer needs a key of its own`);
  const other = tx.select({ name: maintainers.name }).from(maintainers).where(eq(maintainers.fingerprint, key.fingerprint)).get();
  if (other && other.name !== name) throw new AppError('BAD_REQUEST', `that key is maintainer "${other.name}"'s already`);
  const values = { keyType: key.type, keyBase64: key.base64, fingerprint: key.fingerprint, allowFrom, updatedAt: now };
  if (previous) tx.update(maintainers).set(values).where(eq(maintainers.name, name)).run();
  else
    tx.insert(maintainers)
      .values({ name, ...values, createdAt: now })
      .run();
}

function grantHosts(tx: Queryable, name: string, hostNames: string[], isAll: boolean, now: Date): void {
  if (hostNames.length === 0 && !isAll) throw new AppError('BAD_REQUEST', 'name the hosts to grant, or all');
  for (const hostName of hostNames) {
    tx.insert(maintainerGrants).values({ maintainerName: name, hostName, createdAt: now }).onConflictDoNothing().run();
  }
  const granted = tx.select({ count: count() }).from(maintainerGrants).where(eq(maintainerGrants.maintainerName, name)).get()?.count ?? 0;
  if (granted > MAX_GRANTED_HOSTS) {
    throw new AppError('BAD_REQUEST', `a maintainer is granted at most ${MAX_GRANTED_HOSTS} hosts by name: grant it all hosts instead`);
  }
  tx.update(maintainers)
    .set({ updatedAt: now, ...(isAll ? { isGrantedAllHosts: true } : {}) })
    .where(eq(maintainers.name, name))
    .run();
}

function revokeHosts(tx: Queryable, name: string, hostNames: string[], isAll: boolean, now: Date): void {
  if (hostNames.length === 0 && !isAll) throw new AppError('BAD_REQUEST', 'name the hosts to revoke, or all');
  if (hostNames.length > 0) {
    tx.delete(maintainerGrants)
      .where(and(eq(maintainerGrants.maintainerName, name), inArray(maintainerGrants.hostName, hostNames)))
      .run();
  }
  tx.update(maintainers)
    .set({ updatedAt: now, ...(isAll ? { isGrantedAllHosts: false } : {}) })
    .where(eq(maintainers.name, name))
    .run();
}

/** The names, each parsed; to grant, each a live host of root's (a revoke may name a host gone since). */
function checkedHostNames(tx: Queryable, names: string[], { mustBeLive }: { mustBeLive: boolean }): string[] {
  const parsed = [...new Set(names.map((name) => parseHostName(name)))];
  if (mustBeLive) {
    for (const name of parsed) if (!findLiveHost(tx, name)) throw new AppError('NOT_FOUND', `no host named "${name}"`);
  }
  return parsed;
}

/** The maintainer as root serves it, with the hosts granted to it by name, or null. */
export function readMaintainer(db: Queryable, name: string): MaintainerMessage | null {
  const row = db.select().from(maintainers).where(eq(maintainers.name, name)).get();
  if (!row) return null;
  const granted = db
    .select({ hostName: maintainerGrants.hostName })
    .from(maintainerGrants)
    .where(eq(maintainerGrants.maintainerName, name))
    .orderBy(asc(maintainerGrants.hostName))
    .all();
  return {
    ...row,
    hosts: granted.map((grant) => grant.hostName),
    createdAt: row.createdAt.getTime(),
    updatedAt: row.updatedAt.getTime(),
  };
}

/** Lets the host's maintainers back after an admin looked at what its own key changed; reported to the API. */
export function acknowledgeMaintenance(db: Db, hostName: string, options: { now: Date }): MaintenanceAcknowledgementAnswer {
  const host = parseHostName(hostName);
  return db.transaction((tx) => {
    if (!findLiveHost(tx, host)) throw new AppError('NOT_FOUND', `no host named "${host}"`);
    const wasHeld = releaseMaintenance(tx, host);
    if (wasHeld) reportMaintenanceHold(tx, options.now, host, null);
    return { host, wasHeld };
  });
}
