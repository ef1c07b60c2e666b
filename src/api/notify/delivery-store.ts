import { and, desc, eq, lte, notInArray, or } from 'drizzle-orm';
import { z } from 'zod';
import type { Db, Queryable } from '../../db/connection.js';
import { hosts, webhookDeliveries, webhooks } from '../../db/schema.js';
import type { WebhookFormat } from '../../domain/webhook-formats.js';
import { timestamp } from '../json-values.js';
import { afterTimeAndId, type PageRequest, pageOf, type TimeAndId, timeAndIdOf } from '../list-pages.js';
import { type PingOutcome, pingTargetUrl } from './queue.js';
import { nextAttemptAfterFailure } from './retry-schedule.js';

export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

/** A claimed delivery: what the sender needs for this attempt. */
export interface ClaimedDelivery {
  id: string;
  kind: DeliveryRow['kind'];
  eventType: string;
  payload: string;
  /** This attempt's number, 1 for the first. */
  attempt: number;
  url: string;
  /** The webhook's secret; null for a ping (pings are not signed). */
  secret: string | null;
  /** The webhook's format (how the event goes on the wire); null for a ping. */
  format: WebhookFormat | null;
  /** Whom it goes to (`webhook:ID`, or `ping:HOST`): the worker bounds the attempts in flight to each. */
  destination: string;
}

/** The attempts in flight, which a claim leaves alone. */
export interface InFlight {
  ids: ReadonlySet<string>;
  /** Attempts in flight per destination (ClaimedDelivery.destination). */
  byDestination: ReadonlyMap<string, number>;
  /** A destination with this many in flight gets no more until one ends: a slow receiver holds only its own. */
  maxPerDestination: number;
}

export type AttemptResult = { isDelivered: true; statusCode: number } | { isDelivered: false; statusCode: number | null; error: string };

function destinationOf(row: { kind: DeliveryRow['kind']; webhookId: string | null; hostName: string | null }): string {
  return row.kind === 'ping' ? `ping:${row.hostName}` : `webhook:${row.webhookId}`;
}

const ANY_DELIVERY_DUE = "SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1";

/**
 * Whether a pending delivery is due at all: one step down the (status, next_attempt_at) index; the
 * connection's statement cache (db/statement-cache.ts) hands back the statement prepared before. The
 * worker asks once a second, almost always to find none, and building the claim's join each time was
 * most of an idle API's CPU (bench/findings/1-cpu-per-gib.md).
 */
function isAnyDeliveryDue(db: Db, now: Date): boolean {
  return db.$client.prepare(ANY_DELIVERY_DUE).pluck().get(now.getTime()) !== undefined;
}

/**
 * Takes up to `limit` due deliveries and counts the attempt before it is made:
 * each one's next attempt moves `leaseMs` ahead, so one in flight when the
 * process dies is tried again (with the same id) once the lease has passed.
 * Deliveries in flight are left alone, and so are those of a destination that
 * has its fill in flight. A ping whose host no longer has a ping URL fails here.
 */
export function claimDueDeliveries(db: Db, now: Date, options: { limit: number; leaseMs: number; inFlight: InFlight }): ClaimedDelivery[] {
  if (!isAnyDeliveryDue(db, now)) return [];
  const { inFlight } = options;
  const full = [...inFlight.byDestination].filter(([, count]) => count >= inFlight.maxPerDestination).map(([destination]) => destination);
  const fullWebhooks = full.filter((destination) => destination.startsWith('webhook:')).map((destination) => destination.slice(8));
  const fullPingHosts = full.filter((destination) => destination.startsWith('ping:')).map((destination) => destination.slice(5));
  return db.transaction((tx) => {
    const due = tx
      .select({
        id: webhookDeliveries.id,
        kind: webhookDeliveries.kind,
        eventType: webhookDeliveries.eventType,
        payload: webhookDeliveries.payload,
        attempts: webhookDeliveries.attempts,
        webhookId: webhookDeliveries.webhookId,
        hostName: webhookDeliveries.hostName,
        webhookUrl: webhooks.url,
        secret: webhooks.secret,
        format: webhooks.format,
        pingUrl: hosts.pingUrl,
      })
      .from(webhookDeliveries)
      .leftJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
      .leftJoin(hosts, eq(hosts.name, webhookDeliveries.hostName))
      .where(
        and(
          eq(webhookDeliveries.status, 'pending'),
          lte(webhookDeliveries.nextAttemptAt, now),
          or(eq(webhookDeliveries.kind, 'ping'), eq(webhooks.disabled, false)),
          notInArray(webhookDeliveries.id, [...inFlight.ids]),
          or(eq(webhookDeliveries.kind, 'ping'), notInArray(webhookDeliveries.webhookId, fullWebhooks)),
          or(eq(webhookDeliveries.kind, 'webhook'), notInArray(webhookDeliveries.hostName, fullPingHosts)),
        ),
      )
      .orderBy(webhookDeliveries.nextAttemptAt)
      .limit(options.limit)
      .all();
    const claimed: ClaimedDelivery[] = [];
    const counts = new Map(inFlight.byDestination);
    for (const row of due) {
      const destination = destinationOf(row);
      const count = counts.get(destination) ?? 0;
      // Left for a later pass: the query cannot bound each destination's share of one batch.
      if (count >= inFlight.maxPerDestination) continue;
      const url = row.kind === 'ping' ? row.pingUrl && pingTargetUrl(row.pingUrl, pingOutcomeOf(row.eventType)) : row.webhookUrl;
      if (!url) {
        tx.update(webhookDeliveries).set({ status: 'failed', lastError: 'no ping URL' }).where(eq(webhookDeliveries.id, row.id)).run();
        continue;
      }
      counts.set(destination, count + 1);
      const attempt = row.attempts + 1;
      tx.update(webhookDeliveries)
        .set({ attempts: attempt, nextAttemptAt: new Date(now.getTime() + options.leaseMs) })
        .where(eq(webhookDeliveries.id, row.id))
        .run();
      claimed.push({
        id: row.id,
        kind: row.kind,
        eventType: row.eventType,
        payload: row.payload,
        attempt,
        url,
        secret: row.kind === 'webhook' ? row.secret : null,
        format: row.kind === 'webhook' ? row.format : null,
        destination,
      });
    }
    return claimed;
  });
}

function pingOutcomeOf(eventType: string): PingOutcome {
  return eventType === 'ping.fail' ? 'fail' : 'success';
}

/** Records how an attempt went: delivered, or pending until the next one the schedule gives, or failed. */
export function recordAttempt(
  db: Queryable,
  delivery: ClaimedDelivery,
  at: Date,
  result: AttemptResult,
  scheduleMs: readonly number[],
): void {
  if (result.isDelivered) {
    db.update(webhookDeliveries)
      .set({ status: 'delivered', deliveredAt: at, lastStatusCode: result.statusCode, lastError: null })
      .where(eq(webhookDeliveries.id, delivery.id))
      .run();
    return;
  }
  const next = nextAttemptAfterFailure(delivery.attempt, at, scheduleMs);
  db.update(webhookDeliveries)
    .set({
      status: next === null ? 'failed' : 'pending',
      ...(next === null ? {} : { nextAttemptAt: next }),
      lastStatusCode: result.statusCode,
      lastError: result.error.slice(0, 200),
    })
    .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.status, 'pending')))
    .run();
}

/** Keeps the newest `keep` delivered and the newest `keep` failed rows; pending ones always stay. */
export function pruneFinishedDeliveries(db: Queryable, keep: number): void {
  for (const status of ['delivered', 'failed'] as const) {
    const cutoff = db
      .select({ createdAt: webhookDeliveries.createdAt })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.status, status))
      .orderBy(desc(webhookDeliveries.createdAt))
      .limit(1)
      .offset(keep)
      .get();
    if (cutoff) {
      db.delete(webhookDeliveries)
        .where(and(eq(webhookDeliveries.status, status), lte(webhookDeliveries.createdAt, cutoff.createdAt)))
        .run();
    }
  }
}

/** DeliveryView as JSON. */
export const deliveryBody = z
  .strictObject({
    id: z.string(),
    eventType: z.string(),
    host: z.string().nullable(),
    status: z.enum(webhookDeliveries.status.enumValues),
    attempts: z.number().int(),
    nextAttemptAt: timestamp.nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: timestamp,
    deliveredAt: timestamp.nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export interface DeliveryView {
  id: string;
  eventType: string;
  host: string | null;
  status: DeliveryRow['status'];
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** One page of a webhook's deliveries, newest first: a seek on webhook_deliveries_webhook_created. */
export function listDeliveries(
  db: Queryable,
  webhookId: string,
  request: PageRequest<TimeAndId>,
): { deliveries: DeliveryView[]; nextCursor: string | null } {
  const rows = db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.webhookId, webhookId),
        afterTimeAndId(webhookDeliveries.createdAt, webhookDeliveries.id, request.after, 'desc'),
      ),
    )
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(request.limit + 1)
    .all();
  const page = pageOf(rows, request.limit, (row) => timeAndIdOf(row.createdAt, row.id));
  return { deliveries: page.rows.map(toDeliveryView), nextCursor: page.nextCursor };
}

function toDeliveryView(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    eventType: row.eventType,
    host: row.hostName,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt : null,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt,
  };
}
