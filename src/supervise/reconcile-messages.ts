import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.js';

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
