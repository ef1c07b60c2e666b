import { randomBytes } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { webhooks } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { DEFAULT_EVENT_TYPES, type EventType, isEventType } from '../../domain/notification-events.js';
import { parseOutgoingUrl, urlOrigin } from '../../domain/outgoing-url.js';
import { DEFAULT_WEBHOOK_FORMAT, isWebhookFormat, WEBHOOK_FORMATS, type WebhookFormat } from '../../domain/webhook-formats.js';
import { AppError } from '../../errors.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { timestamp } from '../json-values.js';
import { afterTimeAndId, type PageRequest, pageOf, type TimeAndId, timeAndIdOf } from '../list-pages.js';
import { type DeliveryView, listDeliveries } from './delivery-store.js';
import { enqueueTestEvent } from './queue.js';
import { generateWebhookSecret } from './webhook-secret.js';

/** WebhookView as JSON. */
export const webhookBody = z
  .strictObject({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    format: z.enum(WEBHOOK_FORMATS),
    disabled: z.boolean(),
    createdAt: timestamp,
  })
  .meta({ id: 'Webhook' });

/** CreatedWebhook as JSON: with its secret, shown only here (null for a message format). */
export const createdWebhookBody = webhookBody.extend({ secret: z.string().nullable() }).meta({ id: 'CreatedWebhook' });

export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  format: WebhookFormat;
  disabled: boolean;
  createdAt: Date;
}

export interface CreatedWebhook extends WebhookView {
  /** Shown once, here; never returned again. Null for a message format, whose receivers check no signature. */
  secret: string | null;
}

/** A Standard Webhooks receiver, just created: its secret is what the receiver checks signatures with. */
export interface CreatedSignedWebhook extends CreatedWebhook {
  secret: string;
}

export interface WebhookRequest {
  url: string;
  events?: readonly string[] | undefined;
  /** One of WEBHOOK_FORMATS; `standard` when not given. */
  format?: string | undefined;
}

function toView(row: typeof webhooks.$inferSelect): WebhookView {
  return { id: row.id, url: row.url, events: row.events, format: row.format, disabled: row.disabled, createdAt: row.createdAt };
}

function parseFormat(format: string | undefined): WebhookFormat {
  if (format === undefined) return DEFAULT_WEBHOOK_FORMAT;
  if (!isWebhookFormat(format))
    throw new AppError('BAD_REQUEST', `unknown webhook format "${format}": give one of ${WEBHOOK_FORMATS.join(', ')}`);
  return format;
}

function parseEvents(events: readonly string[] | undefined): EventType[] {
  if (events === undefined) return [...DEFAULT_EVENT_TYPES];
  if (events.length === 0) throw new AppError('BAD_REQUEST', 'give at least one event type');
  const unknown = events.filter((type) => !isEventType(type));
  if (unknown.length > 0) throw new AppError('BAD_REQUEST', `unknown event type: ${unknown.join(', ')}`);
  return [...new Set(events as EventType[])];
}

/**
 * Adds a webhook. A message format gets a secret too (the column has one for every row), but
 * it is never used nor shown: its receivers authenticate the sender by their URL.
 */
export function createWebhook(
  context: ServerContext,
  request: WebhookRequest & { format?: 'standard' | undefined },
  by: Actor,
): CreatedSignedWebhook;
export function createWebhook(context: ServerContext, request: WebhookRequest, by: Actor): CreatedWebhook;
export function createWebhook(context: ServerContext, request: WebhookRequest, by: Actor): CreatedWebhook {
  const url = parseOutgoingUrl(request.url, context.config.outgoingAllow);
  const events = parseEvents(request.events);
  const format = parseFormat(request.format);
  const now = context.now();
  const row = {
    id: `wh_${randomBytes(9).toString('base64url')}`,
    url,
    secret: generateWebhookSecret(),
    events,
    format,
    disabled: false,
    createdAt: now,
  };
  context.db.transaction((tx) => {
    tx.insert(webhooks).values(row).run();
    recordAudit(tx, now, { ...by, action: 'webhook.add', target: row.id, details: { origin: urlOrigin(url), events, format } });
  });
  return { ...toView(row), secret: format === 'standard' ? row.secret : null };
}

/** Every webhook, oldest first (the page's list; there are few). */
export function listWebhooks(context: ServerContext): WebhookView[] {
  return listWebhookPage(context, { limit: Number.MAX_SAFE_INTEGER - 1 }).webhooks;
}

/** One page of the webhooks, oldest first: a seek on webhooks_created. */
export function listWebhookPage(context: ServerContext, request: PageRequest<TimeAndId>) {
  const rows = context.db
    .select()
    .from(webhooks)
    .where(afterTimeAndId(webhooks.createdAt, webhooks.id, request.after, 'asc'))
    .orderBy(asc(webhooks.createdAt), asc(webhooks.id))
    .limit(request.limit + 1)
    .all();
  const page = pageOf(rows, request.limit, (row) => timeAndIdOf(row.createdAt, row.id));
  return { webhooks: page.rows.map(toView), nextCursor: page.nextCursor };
}

function requireWebhook(context: ServerContext, id: string): WebhookView {
  const row = context.db.select().from(webhooks).where(eq(webhooks.id, id)).get();
  if (!row) throw new AppError('NOT_FOUND', `no webhook "${id}"`);
  return toView(row);
}

/** Removes the webhook and its queue and log: nothing more is sent to it. */
export function removeWebhook(context: ServerContext, id: string, by: Actor): void {
  const now = context.now();
  context.db.transaction((tx) => {
    const removed = tx.delete(webhooks).where(eq(webhooks.id, id)).run();
    if (removed.changes !== 1) throw new AppError('NOT_FOUND', `no webhook "${id}"`);
    recordAudit(tx, now, { ...by, action: 'webhook.remove', target: id });
  });
}

/** Queues a `webhook.test` event for this webhook; returns its message id. */
export function sendTestEvent(context: ServerContext, id: string, by: Actor): { deliveryId: string } {
  requireWebhook(context, id);
  return { deliveryId: enqueueTestEvent(context.db, context.now(), id, { message: 'a test event from secure-borg-server', by: by.actor }) };
}

/** One page of a webhook's delivery log, newest first. */
export function webhookDeliveries(
  context: ServerContext,
  id: string,
  request: PageRequest<TimeAndId>,
): { deliveries: DeliveryView[]; nextCursor: string | null } {
  requireWebhook(context, id);
  return listDeliveries(context.db, id, request);
}
