import { randomUUID } from 'node:crypto';
import type { Db } from '../db/connection.js';
import { repositoryPath } from '../domain/authorized-keys.js';
import type { BorgTransaction } from '../domain/borg-transactions.js';
import { parseHostName } from '../domain/host-name.js';
import { findLiveHost } from '../enrollment/hosts-store.js';
import { AppError } from '../errors.js';
import { readTransactions } from '../restore/roll-back-repository.js';

/** Messages between the API child and the supervisor over Node's IPC channel. */
export type ReconcileRequest = { type: 'reconcile'; id: string };
export type ReconcileReply = { type: 'reconciled'; id: string; error?: string };

export function isReconcileRequest(message: unknown): message is ReconcileRequest {
  return typeof message === 'object' && message !== null && (message as ReconcileRequest).type === 'reconcile';
}

/** The API side: ask the root supervisor to reconcile, and wait for its answer. */
export function requestReconcileFromSupervisor(timeoutMs = 120_000): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) return Promise.reject(new AppError('RECONCILE_FAILED', 'the API runs without its supervisor'));
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new AppError('RECONCILE_FAILED', 'the server did not apply the change in time'));
    }, timeoutMs);
    function onMessage(message: unknown) {
      const reply = message as ReconcileReply;
      if (reply?.type !== 'reconciled' || reply.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      if (reply.error) reject(new AppError('RECONCILE_FAILED', 'the change is saved but could not be applied yet; see the server log'));
      else resolve();
    }
    process.on('message', onMessage);
    send({ type: 'reconcile', id } satisfies ReconcileRequest);
  });
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
export type RestorePointsReply = { type: 'restore-points'; id: string; points?: { id: number; committedAt: string }[]; error?: string };

export function isRestorePointsRequest(message: unknown): message is RestorePointsRequest {
  const request = message as RestorePointsRequest;
  return typeof message === 'object' && message !== null && request.type === 'restore-points' && typeof request.host === 'string';
}

export function requestRestorePointsFromSupervisor(hostName: string, timeoutMs = 30_000): Promise<BorgTransaction[]> {
  const send = process.send?.bind(process);
  if (!send) return Promise.reject(new AppError('CHECK_UNAVAILABLE', 'the API runs without its supervisor'));
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new AppError('CHECK_UNAVAILABLE', 'the server did not list the restore points in time'));
    }, timeoutMs);
    function onMessage(message: unknown) {
      const reply = message as RestorePointsReply;
      if (reply?.type !== 'restore-points' || reply.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      if (reply.error !== undefined || !reply.points) reject(new AppError('CHECK_UNAVAILABLE', reply.error ?? 'no answer'));
      else resolve(reply.points.map((point) => ({ id: point.id, committedAt: new Date(point.committedAt) })));
    }
    process.on('message', onMessage);
    send({ type: 'restore-points', id, host: hostName } satisfies RestorePointsRequest);
  });
}

/** The supervisor's side: the commits of a live host's repository, or why there are none to show. */
export function answerRestorePoints(request: RestorePointsRequest, db: Db, backupDir: string): RestorePointsReply {
  try {
    const name = parseHostName(request.host);
    if (!findLiveHost(db, name)) return { type: 'restore-points', id: request.id, error: `no host named "${name}"` };
    const points = readTransactions(repositoryPath(backupDir, name));
    return {
      type: 'restore-points',
      id: request.id,
      points: points.map((point) => ({ id: point.id, committedAt: point.committedAt.toISOString() })),
    };
  } catch (error) {
    return { type: 'restore-points', id: request.id, error: (error as Error).message };
  }
}
