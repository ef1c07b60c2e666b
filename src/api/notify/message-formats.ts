import type { MessageFormat } from '../../domain/webhook-formats.js';
import type { EventMessage } from './event-messages.js';

/** The body and headers of one message, in a chat or push service's own format. */
export interface FormattedMessage {
  headers: Record<string, string>;
  body: string;
}

/** Discord refuses a message longer than this (its `content` limit). */
const DISCORD_MAX_CONTENT = 2000;

/** Slack reads `&`, `<` and `>` as markup (`<!channel>` would call everyone in it): they are sent escaped. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A header value as ntfy takes it: printable ASCII as it is, anything else as an RFC 2047
 * encoded word (ntfy decodes it), so no header carries bytes an HTTP library may mangle.
 */
function ntfyHeaderValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

function cut(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/**
 * The request of a message format. None carries the Standard Webhooks signature headers:
 * Slack, Mattermost, Rocket.Chat, Discord and ntfy check no signature (the secret path of the
 * URL, or the topic's access, is what authenticates the sender), so a signature would only
 * suggest a check that nobody makes.
 *
 * - `slack`: `{"text"}`, the text escaped as Slack wants, the link bare (all three link it).
 * - `discord`: `{"content", "allowed_mentions": {"parse": []}}`: the link in `<…>` (Discord
 *   shows no preview of the login page), and no mention in the text notifies anyone.
 * - `ntfy`: the text as a plain body, with `Title`, `Tags` and `Click` (the link) headers.
 */
export function formatMessage(format: MessageFormat, message: EventMessage): FormattedMessage {
  switch (format) {
    case 'slack':
      return {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `${escapeSlack(message.text)}\n${message.link}` }),
      };
    case 'discord': {
      const link = `\n<${message.link}>`;
      return {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          content: `${cut(message.text, DISCORD_MAX_CONTENT - link.length)}${link}`,
          allowed_mentions: { parse: [] },
        }),
      };
    }
    case 'ntfy':
      return {
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          title: ntfyHeaderValue(message.title),
          tags: ntfyHeaderValue(message.tags.join(',')),
          click: ntfyHeaderValue(message.link),
        },
        body: message.text,
      };
  }
}
