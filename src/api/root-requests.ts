import { type HostChange, type HostChangeAnswer, hostChangeAnswer } from '../channel/host-change.js';
import {
  type MaintainerChange,
  type MaintainerChangeAnswer,
  type MaintenanceAcknowledgementAnswer,
  maintainerChangeAnswer,
  maintenanceAcknowledgementAnswer,
} from '../channel/maintainer-change.js';
import { type RequestClient, RootUnavailable } from '../channel/request-client.js';
import { restorePointsResult } from '../channel/supervisor-requests.js';
import type { RestorePoints } from '../domain/borg-transactions.js';
import { AppError, type ErrorCode, isAppError } from '../errors.js';

/**
 * The API side of root's requests, one function per request, in the manner of
 * OpenSSH's monitor_wrap.c: each sends its fields and waits for the answer.
 * By default they use the process's connection to root, set once at start
 * by api/main.ts (as Node's process.send was before); a test passes its own.
 */

let processConnection: RequestClient | null = null;

/** The connection the request functions use when given none (null: the API runs without root). */
export function useRootConnection(client: RequestClient | null): void {
  processConnection = client;
}

const WITHOUT_SUPERVISOR = 'the API runs without its supervisor';
/** The check is only queued: root answers at once. */
const CHECK_QUEUE_TIMEOUT_MS = 10_000;

/** Root's answer; when root could not answer (no connection, closed, too slow), an AppError with `code` instead. */
async function ask(
  client: RequestClient | null,
  type: string,
  fields: Record<string, unknown>,
  timeoutMs: number,
  code: ErrorCode,
): Promise<unknown> {
  if (!client) throw new AppError(code, WITHOUT_SUPERVISOR);
  try {
    return await client.ask(type, fields, timeoutMs);
  } catch (error) {
    if (error instanceof RootUnavailable) throw new AppError(code, error.timedOut ? 'the server did not answer in time' : error.message);
    throw error;
  }
}

/** Asks root to reconcile, and waits for its answer. */
export async function requestReconcileFromSupervisor(timeoutMs = 120_000, client = processConnection): Promise<void> {
  if (!client) throw new AppError('RECONCILE_FAILED', WITHOUT_SUPERVISOR);
  try {
    await client.ask('reconcile', {}, timeoutMs);
  } catch (error) {
    // The change is in the database either way: say whether root was too slow or could not apply it.
    if (error instanceof RootUnavailable && error.timedOut)
      throw new AppError('RECONCILE_FAILED', 'the server did not apply the change in time');
    throw new AppError('RECONCILE_FAILED', 'the change is saved but could not be applied yet; see the server log');
  }
}
/** Asks root to check a host's repository soon; root queues it and answers at once (the outcome lands in the database). */
export async function requestCheckFromSupervisor(hostName: string, client = processConnection): Promise<void> {
  await ask(client, 'check', { host: hostName }, CHECK_QUEUE_TIMEOUT_MS, 'CHECK_UNAVAILABLE');
}

/** A host's restore points, read by root (the API user cannot read repositories). */
export async function requestRestorePointsFromSupervisor(
  hostName: string,
  timeoutMs = 30_000,
  client = processConnection,
): Promise<RestorePoints> {
  let answer: unknown;
  try {
    answer = await ask(client, 'restore-points', { host: hostName }, timeoutMs, 'RESTORE_POINTS_UNAVAILABLE');
  } catch (error) {
    throw new AppError('RESTORE_POINTS_UNAVAILABLE', isAppError(error) ? error.message : 'no answer');
  }
  const parsed = restorePointsResult.safeParse(answer);
  if (!parsed.success) throw new AppError('RESTORE_POINTS_UNAVAILABLE', 'the server answered something else than restore points');
  const newest = parsed.data.points.map((point) => ({ id: point.id, committedAt: new Date(point.committedAt) }));
  return { newest, total: parsed.data.total };
}

/** Asks root for a change of a host (src/channel/host-change.ts) and waits for the row root serves. */
export async function requestHostChangeFromSupervisor(
  change: HostChange,
  timeoutMs = 120_000,
  client = processConnection,
  auditAs?: string,
): Promise<HostChangeAnswer> {
  const fields = { change, ...(auditAs === undefined ? {} : { auditAs }) };
  const answer = await ask(client, 'host.change', fields, timeoutMs, 'RECONCILE_FAILED');
  const parsed = hostChangeAnswer.safeParse(answer);
  if (!parsed.success) throw new AppError('RECONCILE_FAILED', 'the server answered something else than a host');
  return parsed.data;
}

/** Asks root for a change of a maintainer (src/channel/maintainer-change.ts) and waits for the maintainer root serves. */
export async function requestMaintainerChangeFromSupervisor(
  change: MaintainerChange,
  timeoutMs = 120_000,
  client = processConnection,
): Promise<MaintainerChangeAnswer> {
  const answer = await ask(client, 'maintainer.change', { change }, timeoutMs, 'RECONCILE_FAILED');
  const parsed = maintainerChangeAnswer.safeParse(answer);
  if (!parsed.success) throw new AppError('RECONCILE_FAILED', 'the server answered something else than a maintainer');
  return parsed.data;
}

/** Asks root to let a held host's maintainers back, and waits for its answer. */
export async function requestMaintenanceAcknowledgementFromSupervisor(
  hostName: string,
  timeoutMs = 120_000,
  client = processConnection,
): Promise<MaintenanceAcknowledgementAnswer> {
  const answer = await ask(client, 'maintenance.acknowledge', { host: hostName }, timeoutMs, 'RECONCILE_FAILED');
  const parsed = maintenanceAcknowledgementAnswer.safeParse(answer);
  if (!parsed.success) throw new AppError('RECONCILE_FAILED', 'the server answered something else than an acknowledgement');
  return parsed.data;
}

/** Tells root the API applied its reports up to `upTo` (src/root/reports/report-pump.ts). */
export async function acknowledgeRootReports(upTo: number, client = processConnection): Promise<void> {
  await ask(client, 'reports.ack', { upTo }, 10_000, 'RECONCILE_FAILED');
}
