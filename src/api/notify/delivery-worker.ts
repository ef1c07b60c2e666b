import type { Db } from '../../db/connection.js';
import type { Logger } from '../../log.js';
import { type AttemptResult, type ClaimedDelivery, claimDueDeliveries, pruneFinishedDeliveries, recordAttempt } from './delivery-store.js';
import { describeEventPayload } from './event-messages.js';
import { DestinationRefusedError, describeRequestFailure, type OutgoingRequest, type SendRequest } from './http-sender.js';
import { formatMessage } from './message-formats.js';
import { DEFAULT_RETRY_SCHEDULE_MS } from './retry-schedule.js';
import { signWebhook } from './signature.js';

export interface DeliveryWorkerOptions {
  db: Db;
  now: () => Date;
  send: SendRequest;
  /** BORG_SERVER_PUBLIC_URL: the links of the message formats point under it. */
  publicUrl: string;
  logger: Pick<Logger, 'warn' | 'error'>;
  retryScheduleMs?: readonly number[];
  pollIntervalMs?: number;
  requestTimeoutMs?: number;
  /** How long a claimed delivery waits before it is tried again if this process dies sending it. */
  leaseMs?: number;
  /** Deliveries claimed in one pass at most. */
  batchSize?: number;
  /** Attempts in flight at once, in all. */
  maxInFlight?: number;
  /** Attempts in flight at once to one webhook or one host's ping URL: what one slow receiver can hold. */
  maxInFlightPerDestination?: number;
  /** Delivered (and failed) rows kept for the delivery log. */
  keepFinished?: number;
  /** Told of a pass that failed with a fault (src/api/monitoring/fault-monitor.ts): true when it was one, and is logged there. */
  noteFault?: (error: unknown) => boolean;
}

export interface DeliveryWorker {
  /** Sends the due deliveries once (those the bounds on attempts in flight leave room for), waits for them, and returns how many were attempted. */
  deliverDue(): Promise<number>;
  /**
   * Polls the queue every pollIntervalMs until stopped. A pass starts the due
   * deliveries and does not wait for them: a receiver that never answers holds
   * its own attempts until their timeout, never another receiver's.
   */
  start(): void;
  /** Stops polling and waits for the attempts in flight. */
  stop(): Promise<void>;
}

const USER_AGENT = 'secure-borg-server-webhooks/1';

/**
 * The delivery loop: runs in the unprivileged API process, keeps its state
 * only in the database (at-least-once: a message is sent until a 2xx, with the
 * same webhook-id), signs every Standard Webhooks attempt afresh, writes the
 * message of the other formats from the queued event, and calls ping URLs.
 */
export function createDeliveryWorker({
  db,
  now,
  send,
  publicUrl,
  logger,
  retryScheduleMs = DEFAULT_RETRY_SCHEDULE_MS,
  pollIntervalMs = 1000,
  requestTimeoutMs = 10_000,
  leaseMs = 60_000,
  batchSize = 20,
  maxInFlight = 64,
  maxInFlightPerDestination = 4,
  keepFinished = 5000,
  noteFault = () => false,
}: DeliveryWorkerOptions): DeliveryWorker {
  if (leaseMs <= requestTimeoutMs) throw new TypeError('leaseMs must be longer than requestTimeoutMs');
  /** Each attempt in flight, by delivery id: its destination, and the promise that ends when it is recorded. */
  const inFlight = new Map<string, { destination: string; done: Promise<void> }>();
  let timer: NodeJS.Timeout | undefined;
  let isRunning = false;
  /** Attempts recorded since the log was last pruned. */
  let recordedSincePrune = 0;

  function requestFor(delivery: ClaimedDelivery): OutgoingRequest {
    if (delivery.secret === null)
      return { method: 'GET', url: delivery.url, headers: { 'user-agent': USER_AGENT }, timeoutMs: requestTimeoutMs };
    if (delivery.format !== null && delivery.format !== 'standard') {
      const message = formatMessage(delivery.format, describeEventPayload(delivery.payload, publicUrl));
      return {
        method: 'POST',
        url: delivery.url,
        headers: { ...message.headers, 'user-agent': USER_AGENT },
        body: message.body,
        timeoutMs: requestTimeoutMs,
      };
    }
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
    let isRefused = false;
    try {
      const statusCode = await send(requestFor(delivery));
      result =
        statusCode >= 200 && statusCode < 300
          ? { isDelivered: true, statusCode }
          : { isDelivered: false, statusCode, error: `HTTP ${statusCode}` };
    } catch (error) {
      result = { isDelivered: false, statusCode: null, error: describeRequestFailure(error) };
      isRefused = error instanceof DestinationRefusedError;
    }
    // A refused destination is the admin's to change (the URL or BORG_SERVER_OUTGOING_ALLOW): failed at once, not retried for hours.
    recordAttempt(db, delivery, now(), result, isRefused ? [] : retryScheduleMs);
    recordedSincePrune += 1;
    if (!result.isDelivered) {
      logger.warn(
        { delivery: delivery.id, kind: delivery.kind, event: delivery.eventType, attempt: delivery.attempt, error: result.error },
        'delivery failed',
      );
    }
  }

  function noteFailure(error: unknown): void {
    // A full volume or a locked database is logged once per episode, not at every poll.
    if (!noteFault(error)) logger.error({ err: error }, 'delivery loop failed');
  }

  function pruneAfterAttempts(): void {
    if (recordedSincePrune === 0) return;
    recordedSincePrune = 0;
    pruneFinishedDeliveries(db, keepFinished);
  }

  /** Claims what is due and has room, starts each attempt, and returns those attempts without waiting for them. */
  function startDue(): Promise<void>[] {
    pruneAfterAttempts();
    const room = Math.min(batchSize, maxInFlight - inFlight.size);
    if (room <= 0) return [];
    const byDestination = new Map<string, number>();
    for (const { destination } of inFlight.values()) byDestination.set(destination, (byDestination.get(destination) ?? 0) + 1);
    const due = claimDueDeliveries(db, now(), {
      limit: room,
      leaseMs,
      inFlight: { ids: new Set(inFlight.keys()), byDestination, maxPerDestination: maxInFlightPerDestination },
    });
    const started = due.map((delivery) => {
      const done = attempt(delivery)
        .catch(noteFailure)
        .finally(() => inFlight.delete(delivery.id));
      inFlight.set(delivery.id, { destination: delivery.destination, done });
      return done;
    });
    return started;
  }

  async function deliverDue(): Promise<number> {
    const started = startDue();
    await Promise.all(started);
    pruneAfterAttempts();
    return started.length;
  }

  function schedule(delayMs: number) {
    timer = setTimeout(() => {
      let startedCount = 0;
      try {
        startedCount = startDue().length;
      } catch (error) {
        noteFailure(error);
      }
      // A full batch: more may be due at once.
      if (isRunning) schedule(startedCount === batchSize ? 0 : pollIntervalMs);
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
      await Promise.all([...inFlight.values()].map(({ done }) => done));
    },
  };
}
