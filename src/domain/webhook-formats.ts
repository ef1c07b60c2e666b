/**
 * How a webhook's deliveries look on the wire. `standard` is Standard Webhooks: the event as
 * signed JSON, for receivers that act on it. The others are a short human message in the body
 * that a chat or push service shows as it is: `slack` (`{"text"}`, also what Mattermost and
 * Rocket.Chat take), `discord` (`{"content"}`) and `ntfy` (plain text with Title, Tags and Click
 * headers).
 */
export const WEBHOOK_FORMATS = ['standard', 'slack', 'discord', 'ntfy'] as const;

export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** The formats whose body is a message for people; their receivers check no signature. */
export type MessageFormat = Exclude<WebhookFormat, 'standard'>;

export const DEFAULT_WEBHOOK_FORMAT: WebhookFormat = 'standard';

export function isWebhookFormat(value: string): value is WebhookFormat {
  return (WEBHOOK_FORMATS as readonly string[]).includes(value);
}
