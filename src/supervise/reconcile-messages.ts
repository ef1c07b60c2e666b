import { randomUUID } from 'node:crypto';
import { ZodError } from 'zod';
import type { HostChange, HostChangeAnswer } from '../channel/host-change.js';
import type { Db } from '../db/connection.js';
import { repositoryPath } from '../domain/authorized-keys.js';
import type { RestorePoints } from '../domain/borg-transactions.js';
import { parseHostName } from '../domain/host-name.js';
import { findLiveHost } from '../enrollment/hosts-store.js';
import { AppError, type ErrorCode } from '../errors.js';
import { readRestorePoints } from '../restore/roll-back-repository.js';

/** Messages between the API child and the supervisor over Node's IPC channel. */
export type ReconcileRequest = { type: 'reconcile'; id: string };
export type ReconcileReply = { type: 'reconciled'; id: string; error?: string };

export function isReconcileRequest(message: unknown): message is ReconcileRequest {
  return typeof message === 'object' && message !== null && (message as ReconcileRequest).type === 'reconcile';
}

/**
 * The API side of a request that waits for its answer: sends `request` with a
 * fresh id and resolves with the supervisor's reply of `replyType` for that id.
 */
function askSupervisor<Reply extends { type: string; id: string }>(
  request: { type: string } & Record<string, unknown>,
  replyType: Reply['type'],
  timeoutMs: number,
  failure: { code: ErrorCode; withoutSupervisor: string; timedOut: string },
): Promise<Reply> {
  const send = process.send?.bind(process);
  if (!send) return Promise.reject(new AppError(failure.code, failure.withoutSupervisor));
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new AppError(failure.code, failure.timedOut));
    }, timeoutMs);
    function onMessage(message: unknown) {
      const reply = message as Reply;
      if (reply?.type !== replyType || reply.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(reply);
    }
    process.on('message', onMessage);
    send({ ...request, id });
  });
}

/** The API side: ask the root supervisor to reconcile, and wait for its answer. */
export async function requestReconcileFromSupervisor(timeoutMs = 120_000): Promise<void> {
  const reply = await askSupervisor<ReconcileReply>({ type: 'reconcile' } satisfies Omit<ReconcileRequest, 'id'>, 'reconciled', timeoutMs, {
    code: 'RECONCILE_FAILED',
    withoutSupervisor: 'the API runs without its supervisor',
    timedOut: 'the server did not apply the change in time',
  });
  if (reply.error) throw new AppError('RECONCILE_FAILED', 'the change is saved but could not be applied yet; see the server log');
}

/** The API side asks the supervisor to check a host's repository soon; no answer (the result lands in the database). */
export type CheckRequest = { type: 'check'; host: string };

export function isCheckRequest(message: unknown): message is CheckRequest {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as CheckRequest).type === 'check' &&
    typeof (message as CheckRequest).host === 'string'
  );
}

export function requestCheckFromSupervisor(hostName: string): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) return Promise.reject(new AppError('CHECK_UNAVAILABLE', 'the API runs without its supervisor'));
  send({ type: 'check', host: hostName } satisfies CheckRequest);
  return Promise.resolve();
}

/** The API side asks for a host's restore points: the supervisor reads the repository's commits (the API user cannot). */
export type RestorePointsRequest = { type: 'restore-points'; id: string; host: string };
export type RestorePointsReply = {
  type: 'restore-points';
  id: string;
  /** The newest SHOWN_RESTORE_POINTS only: the IPC message stays small however long the log grew. */
  points?: { id: number; committedAt: string }[];
  total?: number;
  error?: string;
};

export function isRestorePointsRequest(message: unknown): message is RestorePointsRequest {
  const request = message as RestorePointsRequest;
  return typeof message === 'object' && message !== null && request.type === 'restore-points' && typeof request.host === 'string';
}

export async function requestRestorePointsFromSupervisor(hostName: string, timeoutMs = 30_000): Promise<RestorePoints> {
  const request: Omit<RestorePointsRequest, 'id'> = { type: 'restore-points', host: hostName };
  const reply = await askSupervisor<RestorePointsReply>(request, 'restore-points', timeoutMs, {
    code: 'RESTORE_POINTS_UNAVAILABLE',
    withoutSupervisor: 'the API runs without its supervisor',
    timedOut: 'the server did not list the restore points in time',
  });
  if (reply.error !== undefined || !reply.points) throw new AppError('RESTORE_POINTS_UNAVAILABLE', reply.error ?? 'no answer');
  const newest = reply.points.map((point) => ({ id: point.id, committedAt: new Date(point.committedAt) }));
  return { newest, total: reply.total ?? newest.length };
}

/** The supervisor's side: the commits of a live host's repository, or why there are none to show. */
export function answerRestorePoints(request: RestorePointsRequest, db: Db, backupDir: string): RestorePointsReply {
  try {
    const name = parseHostName(request.host);
    if (!findLiveHost(db, name)) return { type: 'restore-points', id: request.id, error: `no host named "${name}"` };
    const { newest, total } = readRestorePoints(repositoryPath(backupDir, name));
    return {
      type: 'restore-points',
      id: request.id,
      points: newest.map((point) => ({ id: point.id, committedAt: point.committedAt.toISOString() })),
      total,
    };
  } catch (error) {
    return { type: 'restore-points', id: request.id, error: (error as Error).message };
  }
}

/** The API asks root for a change of a host (src/channel/host-change.ts); the answer is the row root serves. */
export type HostChangeMessage = { type: 'host.change'; id: string; change: unknown };
export type HostChangeReply = { type: 'host.changed'; id: string; answer?: HostChangeAnswer; error?: { code: string; message: string } };

export function isHostChangeMessage(message: unknown): message is HostChangeMessage {
  const request = message as HostChangeMessage;
  return typeof message === 'object' && message !== null && request.type === 'host.change' && typeof request.id === 'string';
}

/** The API applied root's reports up to `upTo` (src/supervise/report-pump.ts). */
export type ReportsAcknowledgement = { type: 'reports.ack'; upTo: number };

export function isReportsAcknowledgement(message: unknown): message is ReportsAcknowledgement {
  const acknowledgement = message as ReportsAcknowledgement;
  return (
    typeof message === 'object' && message !== null && acknowledgement.type === 'reports.ack' && Number.isSafeInteger(acknowledgement.upTo)
  );
}

/** An error as root answers it: an AppError's code and message, anything else without its details. */
export function errorReply(error: unknown): { code: string; message: string } {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  if (error instanceof ZodError) return { code: 'BAD_REQUEST', message: 'the request does not match its schema' };
  return { code: 'RECONCILE_FAILED', message: 'root could not carry out the request; see the server log' };
}

export async function requestHostChangeFromSupervisor(change: HostChange, timeoutMs = 120_000): Promise<HostChangeAnswer> {
  const reply = await askSupervisor<HostChangeReply>({ type: 'host.change', change }, 'host.changed', timeoutMs, {
    code: 'RECONCILE_FAILED',
    withoutSupervisor: 'the API runs without its supervisor',
    timedOut: 'the server did not apply the change in time',
  });
  if (reply.error) throw new AppError(reply.error.code as ErrorCode, reply.error.message);
  if (!reply.answer) throw new AppError('RECONCILE_FAILED', 'the server gave no answer');
  return reply.answer;
}
