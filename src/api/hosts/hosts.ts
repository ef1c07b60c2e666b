import { and, asc, eq, gt, sql } from 'drizzle-orm';
import { z } from 'zod';
import { hostSessions as hostSessionsTable, hosts, maintainerGrants } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { repositoryPath } from '../../domain/authorized-keys.js';
import { parseExpectBackupEvery } from '../../domain/backup-staleness.js';
import { parseCheckEvery } from '../../domain/check-schedule.js';
import { fullAccessEnd, isFullAccessOpen } from '../../domain/full-access.js';
import { parseHostName } from '../../domain/host-name.js';
import { parseAllowFrom } from '../../domain/networks.js';
import { parseOutgoingUrl, urlOrigin } from '../../domain/outgoing-url.js';
import { parseMaxSessions } from '../../domain/session-cap.js';
import { parseQuota } from '../../domain/sizes.js';
import { parseSshPublicKey } from '../../domain/ssh-public-key.js';
import { AppError } from '../../errors.js';
import { type HostSessionRow, listSessions } from '../../host-records/host-sessions.js';
import { allocateUid, findHost, findLiveHost, type HostRow } from '../../host-records/hosts-store.js';
import { findMaintenanceHold } from '../../host-records/maintenance-holds.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { timestamp } from '../json-values.js';
import { type PageRequest, pageOf } from '../list-pages.js';
import { maintainersReaching } from '../maintainers/maintainers.js';
import { type HostMonitoring, hostMonitoring, hostMonitoringFields, monitoringOfEveryHost } from '../monitoring/host-monitoring.js';
import { copyRootAnswer } from './root-answers.js';

export interface HostView extends HostMonitoring {
  name: string;
  uid: number;
  status: HostRow['status'];
  fingerprint: string;
  keyType: string;
  appendOnly: boolean;
  /** The end of an open full-access window (no --append-only until then), or null. */
  fullAccessUntil: Date | null;
  quotaBytes: number | null;
  allowFrom: string | null;
  /** Open SSH sessions it may have at once. */
  maxSessions: number;
  /** Called after each backup (and URL/fail after a failed one); may carry a token: shown to admins, never logged. */
  pingUrl: string | null;
  /** Seconds between the server's checks of its repository (borg check --repository-only), or null: none scheduled. */
  checkEverySeconds: number | null;
  origin: HostRow['origin'];
  repository: string;
  repoUrl: string;
  /** The maintainers that may reach it (granted it by name, or every host). */
  maintainers: string[];
  /** Its maintainers are held out (its own key deleted or pruned) until an admin acknowledges it; null: not held. */
  maintenanceHold: { since: Date; reason: string } | null;
  createdAt: Date;
  updatedAt: Date;
}

/** HostView as JSON: the Host schema of the OpenAPI document. */
export const hostBody = z
  .strictObject({
    name: z.string(),
    uid: z.number().int(),
    status: z.enum(hosts.status.enumValues),
    fingerprint: z.string(),
    keyType: z.string(),
    appendOnly: z.boolean(),
    fullAccessUntil: timestamp.nullable(),
    quotaBytes: z.number().int().nullable(),
    allowFrom: z.string().nullable(),
    maxSessions: z.number().int(),
    pingUrl: z.string().nullable(),
    checkEverySeconds: z.number().int().nullable(),
    origin: z.enum(hosts.origin.enumValues),
    repository: z.string(),
    repoUrl: z.string(),
    maintainers: z.array(z.string()),
    maintenanceHold: z.strictObject({ since: timestamp, reason: z.string() }).nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    ...hostMonitoringFields,
  })
  .meta({ id: 'Host' });

/** A recorded session (HostSessionRow) as JSON. */
export const hostSessionBody = z
  .strictObject({
    id: z.number().int(),
    hostName: z.string(),
    startedAt: timestamp,
    endedAt: timestamp,
    clientAddress: z.string().nullable(),
    connections: z.number().int(),
    transactionsCommitted: z.number().int(),
    lastCommitBefore: z.number().int(),
    lastCommitAfter: z.number().int(),
    objectsAdded: z.number().int(),
    bytesAdded: z.number().int(),
    manifestRewritten: z.boolean(),
    uncommittedLeft: z.boolean(),
    endedBy: z.enum(hostSessionsTable.endedBy.enumValues),
    outcome: z.enum(hostSessionsTable.outcome.enumValues),
    maintainer: z.string().nullable(),
  })
  .meta({ id: 'HostSession' });

function holdOf(context: ServerContext, name: string): HostView['maintenanceHold'] {
  const hold = findMaintenanceHold(context.db, name);
  return hold ? { since: hold.heldSince, reason: hold.reason } : null;
}

/** The URL a client hands to borg: home-relative, so it survives a move of the backup directory. */
export function repositoryUrl(context: ServerContext, name: string): string {
  const { sshHost, sshPublicPort } = context.config;
  const hostPart = sshHost.includes(':') ? `[${sshHost}]` : sshHost;
  return `ssh://${name}@${hostPart}:${sshPublicPort}/./repo`;
}

export function toHostView(
  context: ServerContext,
  row: HostRow,
  monitoring: HostMonitoring = hostMonitoring(context.db, row, context.now()),
): HostView {
  return {
    name: row.name,
    uid: row.uid,
    status: row.status,
    fingerprint: row.fingerprint,
    keyType: row.keyType,
    appendOnly: row.appendOnly,
    fullAccessUntil: isFullAccessOpen(row, context.now()) ? row.fullAccessUntil : null,
    quotaBytes: row.quotaBytes,
    allowFrom: row.allowFrom,
    maxSessions: row.maxSessions,
    pingUrl: row.pingUrl,
    checkEverySeconds: row.checkEverySeconds,
    origin: row.origin,
    repository: repositoryPath(context.config.backupDir, row.name),
    repoUrl: repositoryUrl(context, row.name),
    maintainers: maintainersReaching(context.db, row.name),
    maintenanceHold: holdOf(context, row.name),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    ...monitoring,
  };
}

/** Live hosts (active and disabled) are those a list shows; `borgctl hosts list --all` adds the deleted ones whose data is kept. */
const LIVE_STATUSES = ['active', 'disabled'] as const;
const EVERY_STATUS = ['active', 'disabled', 'deleted', 'purging'] as const;

/**
 * One page of the live hosts by name: those after `after` (the last name of
 * the page before), at most `limit`. A seek on the name's index that reads
 * limit + 1 rows and the monitoring of those hosts only, whatever the number
 * of hosts (pinned with EXPLAIN QUERY PLAN in the unit tests).
 */
export function listHostPage(context: ServerContext, page: PageRequest<string> & { includeDeleted?: boolean }) {
  // The unary plus keeps SQLite from choosing the status index (then sorting every live host by name):
  // the status is checked on each row the name index yields, and the scan stops after limit + 1 rows.
  const isLive = sql`+${hosts.status} in ${page.includeDeleted ? EVERY_STATUS : LIVE_STATUSES}`;
  const rows = context.db
    .select()
    .from(hosts)
    .where(page.after === undefined ? isLive : and(gt(hosts.name, page.after), isLive))
    .orderBy(asc(hosts.name))
    .limit(page.limit + 1)
    .all();
  const { rows: pageRows, nextCursor } = pageOf(rows, page.limit, (row) => row.name);
  const monitoringOf = monitoringOfEveryHost(
    context.db,
    context.now(),
    pageRows.map((row) => row.name),
  );
  return { hosts: pageRows.map((row) => toHostView(context, row, monitoringOf(row))), nextCursor };
}

export function getHost(context: ServerContext, name: string): HostView {
  const row = findLiveHost(context.db, name);
  if (!row) throw new AppError('NOT_FOUND', `no host named "${name}"`);
  return toHostView(context, row);
}

/** One page of a live host's recorded sessions, newest first (see src/host-records/host-sessions.ts): a seek on host_sessions_host. */
export function hostSessions(
  context: ServerContext,
  name: string,
  request: PageRequest<number>,
): { sessions: HostSessionRow[]; nextCursor: string | null } {
  if (!findLiveHost(context.db, name)) throw new AppError('NOT_FOUND', `no host named "${name}"`);
  const rows = listSessions(context.db, name, {
    limit: request.limit + 1,
    ...(request.after === undefined ? {} : { beforeId: request.after }),
  });
  const page = pageOf(rows, request.limit, (row) => row.id);
  return { sessions: page.rows, nextCursor: page.nextCursor };
}

export interface HostChanges {
  quota?: string | number | null | undefined;
  appendOnly?: boolean | undefined;
  disabled?: boolean | undefined;
  allowFrom?: string | null | undefined;
  /** Open SSH sessions it may have at once (1–100); the newest beyond are ended. */
  maxSessions?: number | string | undefined;
  /** Opens a full-access window this long ("2h"; at most 7 days), or closes it (null). */
  fullAccessFor?: string | number | null | undefined;
  /** A push monitor's URL (healthchecks.io, Uptime Kuma), or null to remove it. */
  pingUrl?: string | null | undefined;
  /** Stale after this long without a backup ("26h"), or null for the default. */
  expectBackupEvery?: string | number | null | undefined;
  /** How often the server checks its repository ("7d"), or null/"none" for no scheduled checks. */
  checkEvery?: string | number | null | undefined;
}

export async function updateHost(context: ServerContext, name: string, changes: HostChanges, by: Actor): Promise<HostView> {
  const values: Partial<HostRow> = {};
  if (changes.quota !== undefined) values.quotaBytes = changes.quota === null ? null : parseQuota(changes.quota);
  if (changes.appendOnly !== undefined) values.appendOnly = changes.appendOnly;
  if (changes.allowFrom !== undefined) values.allowFrom = changes.allowFrom === null ? null : parseAllowFrom(changes.allowFrom);
  if (changes.maxSessions !== undefined) values.maxSessions = parseMaxSessions(changes.maxSessions);
  if (changes.disabled !== undefined) values.status = changes.disabled ? 'disabled' : 'active';
  if (changes.checkEvery !== undefined) values.checkEverySeconds = parseCheckEvery(changes.checkEvery);
  if (changes.pingUrl !== undefined)
    values.pingUrl = changes.pingUrl === null ? null : parseOutgoingUrl(changes.pingUrl, context.config.outgoingAllow);
  if (changes.expectBackupEvery !== undefined) {
    values.expectBackupEveryMs = changes.expectBackupEvery === null ? null : parseExpectBackupEvery(changes.expectBackupEvery);
  }
  const now = context.now();
  if (changes.fullAccessFor !== undefined) {
    values.fullAccessUntil = changes.fullAccessFor === null ? null : fullAccessEnd(changes.fullAccessFor, now);
  } else if (changes.disabled === true) {
    // Disabling is what an admin does first about a compromised host: enabling it again must not bring back full access.
    values.fullAccessUntil = null;
  }
  const row = findLiveHost(context.db, name);
  if (!row) throw new AppError('NOT_FOUND', `no host named "${name}"`);
  if (values.fullAccessUntil && !(values.appendOnly ?? row.appendOnly)) {
    throw new AppError('BAD_REQUEST', `host "${name}" is not append-only: it has full access already`);
  }
  // Everything but the ping URL is root's to serve: asked of root first, copied here once it said yes.
  const { pingUrl } = values;
  const fields = {
    ...(values.appendOnly === undefined ? {} : { appendOnly: values.appendOnly }),
    ...(values.quotaBytes === undefined ? {} : { quotaBytes: values.quotaBytes }),
    ...(values.allowFrom === undefined ? {} : { allowFrom: values.allowFrom }),
    ...(values.maxSessions === undefined ? {} : { maxSessions: values.maxSessions }),
    ...(changes.disabled === undefined ? {} : { status: changes.disabled ? ('disabled' as const) : ('active' as const) }),
    ...(values.checkEverySeconds === undefined ? {} : { checkEverySeconds: values.checkEverySeconds }),
    ...(values.expectBackupEveryMs === undefined ? {} : { expectBackupEveryMs: values.expectBackupEveryMs }),
    ...(values.fullAccessUntil === undefined ? {} : { fullAccessUntil: values.fullAccessUntil?.getTime() ?? null }),
  };
  const answer = Object.keys(fields).length > 0 ? await context.changeHost({ action: 'set', name, fields }) : null;
  context.db.transaction((tx) => {
    if (answer) copyRootAnswer(tx, name, answer);
    if (pingUrl !== undefined) tx.update(hosts).set({ pingUrl, updatedAt: now }).where(eq(hosts.name, name)).run();
    // A ping URL's path is its secret: the audit log keeps only where it points.
    const details = values.pingUrl ? { ...values, pingUrl: urlOrigin(values.pingUrl) } : { ...values };
    recordAudit(tx, now, { ...by, action: 'host.update', target: name, details });
  });
  return getHost(context, name);
}

/**
 * Deleting a host removes its account and key at once; its repository stays
 * (and its UID stays reserved) unless `purge` asks for the data to go too.
 */
export async function deleteHost(context: ServerContext, name: string, options: { purge: boolean }, by: Actor): Promise<void> {
  const row = findHost(context.db, name);
  const isGone = !row || row.status === 'purging' || (row.status === 'deleted' && !options.purge);
  if (isGone) throw new AppError('NOT_FOUND', `no host named "${name}"`);
  const answer = await context.changeHost({ action: 'delete', name, purge: options.purge });
  const now = context.now();
  context.db.transaction((tx) => {
    copyRootAnswer(tx, name, answer);
    // Root dropped the host's grants with it (a host enrolled later under the name is another machine).
    tx.delete(maintainerGrants).where(eq(maintainerGrants.hostName, name)).run();
    recordAudit(tx, now, { ...by, action: options.purge ? 'host.purge' : 'host.delete', target: name });
  });
}

/** What `createuser` did: the host as it is now, and what it was before (null: it was created). */
export interface PutKeyOutcome {
  host: HostView;
  previous: { fingerprint: string; status: HostRow['status'] } | null;
}

/**
 * The ancestor's `createuser NAME "KEY"`: creates an approved host directly,
 * or gives an existing one a new key.
 */
export async function createOrRekeyHost(context: ServerContext, name: string, publicKey: string, by: Actor): Promise<PutKeyOutcome> {
  const hostName = parseHostName(name);
  const key = parseSshPublicKey(publicKey);
  const existing = findHost(context.db, hostName);
  if (existing?.status === 'purging') throw new AppError('HOST_NAME_TAKEN', `host "${hostName}" is being purged; try again in a moment`);
  const answer = await context.changeHost({
    action: 'put-key',
    name: hostName,
    keyType: key.type,
    keyBase64: key.base64,
    appendOnly: existing?.appendOnly ?? true,
    quotaBytes: existing?.quotaBytes ?? null,
    allowFrom: existing?.allowFrom ?? null,
    origin: existing?.origin ?? 'createuser',
    enrollmentId: existing?.enrollmentId ?? null,
    ...(existing ? {} : { uidHint: allocateUid(context.db) }),
  });
  const now = context.now();
  context.db.transaction((tx) => {
    copyRootAnswer(tx, hostName, answer);
    recordAudit(tx, now, {
      ...by,
      action: answer.previous ? 'host.rekey' : 'host.create',
      target: hostName,
      details: { fingerprint: key.fingerprint, uid: answer.row?.uid ?? null },
    });
  });
  const { previous } = answer;
  return { host: getHost(context, hostName), previous: previous && { fingerprint: previous.fingerprint, status: previous.status } };
}
