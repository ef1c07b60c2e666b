/**
 * The events the server notifies webhooks of, as both sides name them: the
 * API builds an event and hands it to `enqueueEvent` (src/api/notify/queue.ts),
 * inside its own transaction when it has one; root reports one it decided on
 * (reportEvent, src/root/reports/report-to-api.ts) and the API queues it.
 */
export const EVENT_TYPES = [
  'enrollment.pending',
  'enrollment.approved',
  'enrollment.denied',
  'host.stale',
  'host.recovered',
  /** Quota use above QUOTA_HIGH_FRACTION. */
  'host.quota.high',
  /** The quota watch disabled the host: its kept history filled the quota. */
  'host.quota.disabled',
  /** The repository watch disabled the host: it kept replacing its repository config (key). */
  'host.config-churn.disabled',
  'host.check.failed',
  /** The host's own key deleted or pruned: its maintainers are held out until an admin acknowledges it. */
  'host.maintenance.held',
  /** Opt-in: sent only to webhooks that list it. */
  'backup.completed',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Sent by `webhooks test`; no webhook subscribes to it. */
export const TEST_EVENT_TYPE = 'webhook.test';

/** Types a webhook receives only when it lists them. */
export const OPT_IN_EVENT_TYPES: readonly EventType[] = ['backup.completed'];

/** What a webhook created without a list of events receives. */
export const DEFAULT_EVENT_TYPES: readonly EventType[] = EVENT_TYPES.filter((type) => !OPT_IN_EVENT_TYPES.includes(type));

export const QUOTA_HIGH_FRACTION = 0.9;

export interface NotificationEvent {
  type: EventType;
  /** The host the event is about, if any: it goes into the payload's data as `host`. */
  host?: string;
  /** JSON-serialisable details; never a secret (no tokens, no keys, no ping URLs). */
  data: Record<string, unknown>;
}

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/** Where an admin approves an enrollment: the link an `enrollment.pending` event carries. */
export function enrollmentApprovalUrl(publicUrl: string, enrollmentId: string): string {
  return `${publicUrl}/ui/enrollments/${encodeURIComponent(enrollmentId)}`;
}

/**
 * The request body, per the Standard Webhooks payload structure:
 * `{ "type", "timestamp", "data" }`. Rendered once, at enqueue; retries send the same bytes.
 */
export function renderEventPayload(type: string, at: Date, host: string | undefined, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: at.toISOString(), data: host === undefined ? data : { host, ...data } });
}
