import type { Db } from '../../db/connection.js';
import type { Logger } from '../../log.js';
import { type AttemptResult, type ClaimedDelivery, claimDueDeliveries, pruneFinishedDeliveries, recordAttempt } from './delivery-store.js';
import { describeRequestFailure, type OutgoingRequest, type SendRequest } from './http-sender.js';
import { DEFAULT_RETRY_SCHEDULE_MS } from './retry-schedule.js';
import { signWebhook } from './signature.js';

export interface DeliveryWorkerOptions {
  db: Db;
  now: () => Date;
  send: SendRequest;
  logger: Pick<Logger, 'warn' | 'error'>;
  retryScheduleMs?: readonly number[];
  pollIntervalMs?: number;
  requestTimeoutMs?: number;
  /** How long a claimed delivery waits before it is tried again if this process dies sending it. */
  leaseMs?: number;
  batchSize?: number;
  /** Delivered (and failed) rows kept for the delivery log. */
  keepFinished?: number;
  /** Told of a pass that failed with a fault (src/api/monitoring/fault-monitor.ts): true when it was one, and is logged there. */
  noteFault?: (error: unknown) => boolean;
}

export interface DeliveryWorker {
  /** Sends every due delivery once, and returns how many were attempted. */
  deliverDue(): Promise<number>;
  /** Polls the queue every pollIntervalMs until stopped. */
  start(): void;
  /** Stops polling and waits for the attempts in flight. */
  stop(): Promise<void>;
}

const USER_AGENT = 'secure-borg-server-webhooks/1';

/**
 * The delivery loop: runs in the unprivileged API process, keeps its state
 * only in the database (at-least-once: a message is sent until a 2xx, with the
 * same webhook-id), signs every webhook attempt afresh, and calls ping URLs.
 */
export function createDeliveryWorker({
  db,
  now,
  send,
  logger,
  retryScheduleMs = DEFAULT_RETRY_SCHEDULE_MS,
  pollIntervalMs = 1000,
  requestTimeoutMs = 10_000,
  leaseMs = 60_000,
  batchSize = 20,
  keepFinished = 5000,
  noteFault = () => false,
}: DeliveryWorkerOptions): DeliveryWorker {
  if (leaseMs <= requestTimeoutMs) throw new TypeError('leaseMs must be longer than requestTimeoutMs');
  const inFlight = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let isRunning = false;
  let current: Promise<unknown> = Promise.resolve();

  function requestFor(delivery: ClaimedDelivery): OutgoingRequest {
    if (delivery.secret === null)
      return { method: 'GET', url: delivery.url, headers: { 'user-agent': USER_AGENT }, timeoutMs: requestTimeoutMs };
    return {
      method: 'POST',
      url: delivery.url,
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        ...signWebhook(delivery.secret, delivery.id, now(), delivery.payload),
      },
      body: delivery.payload,
      timeoutMs: requestTimeoutMs,
    };
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    let result: AttemptResult;
    try {
      const statusCode = await send(requestFor(delivery));
      result =
        statusCode >= 200 && statusCode < 300
          ? { isDelivered: true, statusCode }
          : { isDelivered: false, statusCode, error: `HTTP ${statusCode}` };
    } catch (error) {
      result = { isDelivered: false, statusCode: null, error: describeRequestFailure(error) };
    }
    recordAttempt(db, delivery, now(), result, retryScheduleMs);
    if (!result.isDelivered) {
      logger.warn(
        { delivery: delivery.id, kind: delivery.kind, event: delivery.eventType, attempt: delivery.attempt, error: result.error },
        'delivery failed',
      );
    }
  }

  async function deliverDue(): Promise<number> {
    const due = claimDueDeliveries(db, now(), { limit: batchSize, leaseMs, skipIds: inFlight });
    for (const delivery of due) inFlight.add(delivery.id);
    try {
      await Promise.all(due.map((delivery) => attempt(delivery).finally(() => inFlight.delete(delivery.id))));
    } finally {
      for (const delivery of due) inFlight.delete(delivery.id);
    }
    if (due.length > 0) pruneFinishedDeliveries(db, keepFinished);
    return due.length;
  }

  function schedule(delayMs: number) {
    timer = setTimeout(() => {
      current = deliverDue()
        .catch((error: unknown) => {
          // A full volume or a locked database is logged once per episode, not at every poll.
          if (!noteFault(error)) logger.error({ err: error }, 'delivery loop failed');
        })
        .then((count) => {
          // A full batch: more may be due at once.
          if (isRunning) schedule(count === batchSize ? 0 : pollIntervalMs);
        });
    }, delayMs);
  }

  return {
    deliverDue,
    start() {
      if (isRunning) return;
      isRunning = true;
      schedule(0);
    },
    async stop() {
      isRunning = false;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
