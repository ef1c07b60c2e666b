import { z } from 'zod';
import type { ErrorCode } from '../errors.js';

/**
 * The envelopes on a channel to root, shared by both sides. A request is
 * `{ type, id, ...fields }` (root's request table says which types exist and
 * what fields each has); root answers each with one reply naming its id, and
 * may push reports of its own, which carry no id.
 */

/** A request id: any string the asker picks (a UUID), short enough to echo back. */
export const MAX_REQUEST_ID_LENGTH = 128;
export const MAX_REQUEST_TYPE_LENGTH = 64;
export const REPLY_TYPE = 'reply';
export const REPORT_TYPE = 'report';

/** Root's refusals use the application's codes: BAD_REQUEST, RATE_LIMITED, SERVER_BUSY, INTERNAL, or a handler's own. */
export interface ReplyError {
  code: ErrorCode;
  message: string;
}

export type Reply = { type: typeof REPLY_TYPE; id: string; result: unknown } | { type: typeof REPLY_TYPE; id: string; error: ReplyError };

export type Report = { type: typeof REPORT_TYPE } & Record<string, unknown>;

/** An error code as root sends it: upper-case words, as in ErrorCode. */
const errorCode = z
  .string()
  .regex(/^[A-Z][A-Z_]{0,63}$/)
  .transform((code) => code as ErrorCode);

export const replySchema = z.union([
  z.object({ type: z.literal(REPLY_TYPE), id: z.string(), error: z.object({ code: errorCode, message: z.string() }) }),
  z.object({ type: z.literal(REPLY_TYPE), id: z.string(), result: z.unknown() }),
]);

export const reportSchema = z.object({ type: z.literal(REPORT_TYPE) }).loose();

/** The id of a message, when it carries one root can echo back in a reply. */
export function replyableIdOf(message: Record<string, unknown>): string | undefined {
  const { id } = message;
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_REQUEST_ID_LENGTH ? id : undefined;
}
