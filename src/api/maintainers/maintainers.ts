import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import {
  MAX_HOSTS_PER_CHANGE,
  type MaintainerChange,
  type MaintainerChangeAnswer,
  type MaintainerMessage,
} from '../../channel/maintainer-change.js';
import type { Queryable } from '../../db/connection.js';
import { maintainerGrants, maintainers } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { parseHostName } from '../../domain/host-name.js';
import { parseMaintainerName } from '../../domain/maintainer-name.js';
import { parseAllowFrom } from '../../domain/networks.js';
import { parseSshPublicKey } from '../../domain/ssh-public-key.js';
import { AppError } from '../../errors.js';
import { findLiveHost } from '../../host-records/hosts-store.js';
import { releaseMaintenance } from '../../host-records/maintenance-holds.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { timestamp } from '../json-values.js';

/**
 * Maintainers: trusted machines (an offline machine holding the repository
 * keys) that prune and compact granted hosts' repositories while every VM's
 * own key stays append-only. Every change is root's to check and serve
 * (src/root/requests/maintainer-requests.ts): asked first, copied here with
 * its audit entry once root said yes.
 */

/** MaintainerView as JSON. */
export const maintainerBody = z
  .strictObject({
    name: z.string(),
    keyType: z.string(),
    fingerprint: z.string(),
    allowFrom: z.string(),
    allHosts: z.boolean(),
    hosts: z.array(z.string()),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Maintainer' });

export interface MaintainerView {
  name: string;
  keyType: string;
  fingerprint: string;
  allowFrom: string;
  /** Granted every host, those enrolled later too. */
  allHosts: boolean;
  /** Hosts granted by name. */
  hosts: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** Which hosts a grant or revoke names: some by name, or every host. */
export interface HostSelection {
  hosts: string[];
  all: boolean;
}

/** "web1, web2" or "web1 web2" (borgctl's --hosts, the page's field) → ['web1', 'web2']; each name is checked by the change. */
export function splitHostNames(text: string): string[] {
  return text.split(/[\s,]+/).filter((name) => name !== '');
}

export function listMaintainers(context: ServerContext): MaintainerView[] {
  const rows = context.db.select().from(maintainers).orderBy(asc(maintainers.name)).all();
  return rows.map((row) => toView(row, grantedHosts(context.db, row.name)));
}

export function getMaintainer(context: ServerContext, name: string): MaintainerView {
  const row = context.db.select().from(maintainers).where(eq(maintainers.name, name)).get();
  if (!row) throw new AppError('NOT_FOUND', `no maintainer named "${name}"`);
  return toView(row, grantedHosts(context.db, name));
}

/** Registers a trusted machine's key (or gives a registered one a new key and range); the from= range is required. */
export async function addMaintainer(
  context: ServerContext,
  input: { name: string; publicKey: string; allowFrom: unknown },
  by: Actor,
): Promise<MaintainerView> {
  const name = parseMaintainerName(input.name);
  if (input.allowFrom === undefined || input.allowFrom === null || input.allowFrom === '') {
    throw new AppError('INVALID_CIDR', 'a maintainer needs a from= range (allowFrom): the addresses its trusted machine connects from');
  }
  const allowFrom = parseAllowFrom(input.allowFrom);
  const key = parseSshPublicKey(input.publicKey);
  const answer = await context.changeMaintainer({ action: 'add', name, keyType: key.type, keyBase64: key.base64, allowFrom });
  return applyAnswer(context, name, answer, by, {
    action: answer.previous ? 'maintainer.rekey' : 'maintainer.add',
    details: { fingerprint: key.fingerprint, allowFrom },
  });
}

/** Gives it full access (no --append-only) to the hosts' repositories; each host's own key stays as it is. */
export async function grantMaintainer(context: ServerContext, name: string, selection: HostSelection, by: Actor): Promise<MaintainerView> {
  return changeGrants(context, 'grant', name, selection, by);
}

/** Takes its access back; its open sessions on those hosts end. */
export async function revokeMaintainer(context: ServerContext, name: string, selection: HostSelection, by: Actor): Promise<MaintainerView> {
  return changeGrants(context, 'revoke', name, selection, by);
}

/** Forgets the maintainer and every grant; its open sessions end. */
export async function removeMaintainer(context: ServerContext, name: string, by: Actor): Promise<void> {
  const checked = parseMaintainerName(name);
  const answer = await context.changeMaintainer({ action: 'remove', name: checked });
  const now = context.now();
  context.db.transaction((tx) => {
    copyMaintainerAnswer(tx, checked, answer);
    recordAudit(tx, now, { ...by, action: 'maintainer.remove', target: `maintainer:${checked}` });
  });
}

async function changeGrants(
  context: ServerContext,
  action: 'grant' | 'revoke',
  name: string,
  selection: HostSelection,
  by: Actor,
): Promise<MaintainerView> {
  const checked = parseMaintainerName(name);
  if (selection.hosts.length > MAX_HOSTS_PER_CHANGE) {
    throw new AppError('BAD_REQUEST', `name at most ${MAX_HOSTS_PER_CHANGE} hosts in one ${action}, or all`);
  }
  const hosts = [...new Set(selection.hosts.map((host) => parseHostName(host)))];
  if (hosts.length === 0 && !selection.all) throw new AppError('BAD_REQUEST', `name the hosts to ${action} (hosts), or all`);
  const change: MaintainerChange = { action, name: checked, hosts, all: selection.all };
  const answer = await context.changeMaintainer(change);
  return applyAnswer(context, checked, answer, by, { action: `maintainer.${action}`, details: { hosts, all: selection.all } });
}

function applyAnswer(
  context: ServerContext,
  name: string,
  answer: MaintainerChangeAnswer,
  by: Actor,
  audit: { action: string; details: Record<string, unknown> },
): MaintainerView {
  const now = context.now();
  context.db.transaction((tx) => {
    copyMaintainerAnswer(tx, name, answer);
    recordAudit(tx, now, { ...by, action: audit.action, target: `maintainer:${name}`, details: audit.details });
  });
  return getMaintainer(context, name);
}

/** Takes root's answer into the API's copy, in the caller's transaction: the maintainer and its grants as root serves them. */
export function copyMaintainerAnswer(tx: Queryable, name: string, answer: MaintainerChangeAnswer): void {
  tx.delete(maintainers).where(eq(maintainers.name, name)).run();
  const served = answer.maintainer;
  if (served === null) return;
  tx.insert(maintainers).values(fromMessage(served)).run();
  for (const hostName of served.hosts) {
    tx.insert(maintainerGrants)
      .values({ maintainerName: served.name, hostName, createdAt: new Date(served.updatedAt) })
      .run();
  }
}

function fromMessage(message: MaintainerMessage): typeof maintainers.$inferInsert {
  const { hosts: _hosts, ...row } = message;
  return { ...row, createdAt: new Date(message.createdAt), updatedAt: new Date(message.updatedAt) };
}

function grantedHosts(db: Queryable, name: string): string[] {
  return db
    .select({ hostName: maintainerGrants.hostName })
    .from(maintainerGrants)
    .where(eq(maintainerGrants.maintainerName, name))
    .orderBy(asc(maintainerGrants.hostName))
    .all()
    .map((grant) => grant.hostName);
}

function toView(row: typeof maintainers.$inferSelect, hosts: string[]): MaintainerView {
  return {
    name: row.name,
    keyType: row.keyType,
    fingerprint: row.fingerprint,
    allowFrom: row.allowFrom,
    allHosts: row.isGrantedAllHosts,
    hosts,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * An admin has looked at what a held host's own key changed (`hosts show`: its sessions; `hosts restore --list`)
 * and lets its maintainers back: asked of root, then copied here with the audit entry.
 */
export async function acknowledgeMaintenance(context: ServerContext, name: string, by: Actor): Promise<{ host: string; wasHeld: boolean }> {
  const hostName = parseHostName(name);
  if (!findLiveHost(context.db, hostName)) throw new AppError('NOT_FOUND', `no host named "${hostName}"`);
  const answer = await context.acknowledgeMaintenance(hostName);
  const now = context.now();
  context.db.transaction((tx) => {
    releaseMaintenance(tx, hostName);
    recordAudit(tx, now, { ...by, action: 'host.acknowledge', target: hostName, details: { wasHeld: answer.wasHeld } });
  });
  return answer;
}

/** The names of the maintainers that may reach a host: granted it by name, or every host (sorted). */
export function maintainersReaching(db: Queryable, hostName: string): string[] {
  const byName = db
    .select({ name: maintainerGrants.maintainerName })
    .from(maintainerGrants)
    .where(eq(maintainerGrants.hostName, hostName))
    .all();
  const everyHost = db.select({ name: maintainers.name }).from(maintainers).where(eq(maintainers.isGrantedAllHosts, true)).all();
  return [...new Set([...byName, ...everyHost].map((row) => row.name))].sort();
}
