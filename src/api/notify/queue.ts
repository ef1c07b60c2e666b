import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Queryable } from '../../db/connection.js';
import { hosts, webhookDeliveries, webhooks } from '../../db/schema.js';
import { type NotificationEvent, renderEventPayload, TEST_EVENT_TYPE } from '../../domain/notification-events.js';

export type PingOutcome = 'success' | 'fail';

/** A message id, sent as `webhook-id`: the same on every retry, so receivers can drop duplicates. */
function newMessageId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`;
}

/**
 * Queues `event` for every enabled webhook that subscribes to its type, and
 * returns the message ids. Pass the caller's transaction as `db` so the event
 * is queued exactly when the change it reports is committed.
 */
export function enqueueEvent(db: Queryable, now: Date, event: NotificationEvent): string[] {
  const receivers = db
    .select({ id: webhooks.id, events: webhooks.events })
    .from(webhooks)
    .where(eq(webhooks.disabled, false))
    .all()
    .filter((webhook) => webhook.events.includes(event.type));
  if (receivers.length === 0) return [];
  const payload = renderEventPayload(event.type, now, event.host, event.data);
  const rows = receivers.map((webhook) => ({
    id: newMessageId(),
    kind: 'webhook' as const,
    webhookId: webhook.id,
    hostName: event.host ?? null,
    eventType: event.type,
    payload,
    nextAttemptAt: now,
    status: 'pending' as const,
    createdAt: now,
  }));
  db.insert(webhookDeliveries).values(rows).run();
  return rows.map((row) => row.id);
}

/** Queues a `webhook.test` event for one webhook, whatever it subscribes to. */
export function enqueueTestEvent(db: Queryable, now: Date, webhookId: string, data: Record<string, unknown>): string {
  const id = newMessageId();
  db.insert(webhookDeliveries)
    .values({
      id,
      kind: 'webhook',
      webhookId,
      eventType: TEST_EVENT_TYPE,
      payload: renderEventPayload(TEST_EVENT_TYPE, now, undefined, data),
      nextAttemptAt: now,
      status: 'pending',
      createdAt: now,
    })
    .run();
  return id;
}

/**
 * Queues a call of the host's ping URL (a GET of the URL, or of URL/fail), or
 * does nothing and returns null when the host has none. The URL is read when
 * the ping is sent, so it is never copied into the queue.
 */
export function enqueuePing(db: Queryable, now: Date, hostName: string, outcome: PingOutcome): string | null {
  const host = db.select({ pingUrl: hosts.pingUrl }).from(hosts).where(eq(hosts.name, hostName)).get();
  if (!host?.pingUrl) return null;
  const id = newMessageId();
  db.insert(webhookDeliveries)
    .values({
      id,
      kind: 'ping',
      hostName,
      eventType: `ping.${outcome}`,
      payload: '',
      nextAttemptAt: now,
      status: 'pending',
      createdAt: now,
    })
    .run();
  return id;
}

/** The URL a ping calls: the ping URL itself, or its path with `/fail` appended (healthchecks.io style). */
export function pingTargetUrl(pingUrl: string, outcome: PingOutcome): string {
  if (outcome === 'success') return pingUrl;
  const url = new URL(pingUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/fail`;
  return url.href;
}
