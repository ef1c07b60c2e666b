import type { Duplex } from 'node:stream';
import { type Reply, type Report, replyableIdOf } from '../../channel/channel-messages.js';
import { type ChannelMessage, createLineChannel, type DropReason, type LineChannel } from '../../channel/line-channel.js';
import { asExpectedError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RequestDefinition, RequestOrigin, RequestTable } from './request-table.js';
import { createTokenBucket } from './token-bucket.js';

/**
 * Root's side of every channel: reads requests off a connection, checks each
 * against the request table and answers by id. What a connection carries
 * never reaches past it: a bad line or request is dropped, logged (at most
 * one line a second per connection, with a count of the ones left out) and,
 * when it had an id, answered with BAD_REQUEST; a flood is answered with
 * RATE_LIMITED beyond a token bucket; a connection that keeps being refused
 * (past maxDrops, less one forgiven a second) is closed; a handler's failure
 * is an answer, never an unhandled rejection.
 */

export interface ConnectionLimits {
  /** Requests a second, on average, and at once, per connection. */
  requestsPerSecond: number;
  burst: number;
  /**
   * Requests being handled at once per connection; beyond, SERVER_BUSY. The API process asks for
   * all its HTTP requests on one connection (each approval waits for a reconcile), hence room.
   */
  maxInFlight: number;
  /**
   * Refused messages (bad lines, bad requests, over the rate) a connection may run up; the next
   * one closes it. `dropsForgivenPerSecond` of them are forgiven again, so that a long-lived
   * connection refused now and then is never closed for it, while one that keeps being refused soon is.
   */
  maxDrops: number;
  dropsForgivenPerSecond: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  requestsPerSecond: 50,
  burst: 200,
  maxInFlight: 64,
  maxDrops: 1000,
  dropsForgivenPerSecond: 1,
};
/** At most one log line per connection in this time for its refused messages. */
export const DROP_LOG_INTERVAL_MS = 1000;
const MAX_LOGGED_TYPE_LENGTH = 64;
const MAX_REFUSAL_MESSAGE_LENGTH = 300;

export type RefusalReason =
  | DropReason
  | 'no-type'
  | 'no-id'
  | 'unknown-type'
  | 'not-allowed'
  | 'bad-fields'
  | 'rate-limited'
  | 'too-many-in-flight';

export interface RequestDispatcher {
  /** Serves one connection until it closes. */
  accept(stream: Duplex, origin: RequestOrigin): void;
  /** Sends a report to every open connection of `origin`; returns to how many. */
  push(origin: RequestOrigin, report: Report): number;
  connectionCount(origin: RequestOrigin): number;
  /** Closes every connection (the server stops). */
  closeAll(): void;
}

export interface RequestDispatcherOptions {
  table: RequestTable;
  logger: Logger;
  limits?: Partial<ConnectionLimits>;
  nowMs?: () => number;
  /** Told when a connection of an origin opens or closes (to send root's pending reports to a new API connection). */
  onConnection?: (origin: RequestOrigin, state: 'opened' | 'closed') => void;
}

/** Why a message is dropped, and what its asker is told when it gave an id (BAD_REQUEST unless `code` says otherwise). */
interface Refusal {
  reason: RefusalReason;
  code?: ErrorCode;
  message?: string;
}

interface Admitted {
  type: string;
  id: string;
  definition: RequestDefinition;
  request: Record<string, unknown>;
}

interface Connection {
  origin: RequestOrigin;
  channel: LineChannel;
}

export function createRequestDispatcher(options: RequestDispatcherOptions): RequestDispatcher {
  const { table, logger, nowMs = () => performance.now(), onConnection = () => {} } = options;

  /** The hook is ours, but a throw in it must not reach the socket's reader. */
  function tellConnection(origin: RequestOrigin, state: 'opened' | 'closed'): void {
    try {
      onConnection(origin, state);
    } catch (error) {
      logger.error({ err: error, channel: origin }, 'the connection hook failed');
    }
  }
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const connections = new Set<Connection>();
  let connectionNumber = 0;

  function accept(stream: Duplex, origin: RequestOrigin): void {
    connectionNumber += 1;
    const number = connectionNumber;
    const requestAllowance = createTokenBucket({ ratePerSecond: limits.requestsPerSecond, burst: limits.burst, nowMs });
    let inFlight = 0;
    // Spent by refusals, refilled slowly: empty means the connection keeps being refused.
    const dropAllowance = createTokenBucket({ ratePerSecond: limits.dropsForgivenPerSecond, burst: limits.maxDrops, nowMs });
    let drops = 0;
    let lastLoggedAtMs = Number.NEGATIVE_INFINITY;
    let leftOutOfLog = 0;
    const log = logger.child({ channel: origin, connection: number });

    const channel = createLineChannel(stream, {
      onMessage: receive,
      onDrop: (reason) => refuse({ reason }, undefined, undefined),
      onClose: () => {
        connections.delete(connection);
        // Refusals held back by the once-a-second rule are counted here, or no line would ever say so.
        if (leftOutOfLog > 0) log.warn({ drops, notLoggedSinceLastLine: leftOutOfLog }, 'channel connection closed');
        else log.debug({ drops }, 'channel connection closed');
        tellConnection(origin, 'closed');
      },
    });
    const connection: Connection = { origin, channel };
    connections.add(connection);
    log.debug('channel connection opened');
    tellConnection(origin, 'opened');

    /** Sends a reply; a reply that cannot be sent (too large, not JSON) becomes INTERNAL. */
    function answer(reply: Reply): void {
      try {
        channel.send(reply);
      } catch (error) {
        log.error({ err: error, id: reply.id }, 'a reply could not be sent');
        channel.send({ type: 'reply', id: reply.id, error: { code: 'INTERNAL', message: 'internal error' } } satisfies Reply);
      }
    }

    function logRefusal(reason: RefusalReason, type: unknown): void {
      const now = nowMs();
      if (now - lastLoggedAtMs < DROP_LOG_INTERVAL_MS) {
        leftOutOfLog += 1;
        return;
      }
      lastLoggedAtMs = now;
      const fields = {
        reason,
        ...(typeof type === 'string' ? { type: type.slice(0, MAX_LOGGED_TYPE_LENGTH) } : {}),
        drops,
        ...(leftOutOfLog > 0 ? { notLoggedSinceLastLine: leftOutOfLog } : {}),
      };
      leftOutOfLog = 0;
      log.warn(fields, 'channel message refused');
    }

    /** Drops a message: logged, answered when it had an id, and counted against the connection. */
    function refuse(refusal: Refusal, id: string | undefined, type: unknown): void {
      drops += 1;
      logRefusal(refusal.reason, type);
      if (id !== undefined) {
        const message = (refusal.message ?? refusal.reason).slice(0, MAX_REFUSAL_MESSAGE_LENGTH);
        answer({ type: 'reply', id, error: { code: refusal.code ?? 'BAD_REQUEST', message } });
      }
      if (!dropAllowance.take() && !channel.isClosed) {
        log.warn({ drops }, 'channel connection closed: it keeps sending refused messages');
        channel.close();
      }
    }

    /** The request a message asks, parsed, or why it is refused: the table's rules in order. */
    function admit(message: ChannelMessage, id: string | undefined): Admitted | Refusal {
      const { type, id: _id, ...fields } = message;
      // First, before any other work: a flood costs root as little as it can.
      if (!requestAllowance.take()) return { reason: 'rate-limited', code: 'RATE_LIMITED', message: 'too many requests; slow down' };
      if (typeof type !== 'string') return { reason: 'no-type', message: 'a request needs a string type' };
      if (id === undefined) return { reason: 'no-id' };
      const definition = table.get(type);
      if (!definition) return { reason: 'unknown-type', message: 'unknown request type' };
      if (!definition.from.includes(origin)) return { reason: 'not-allowed', message: 'request type not allowed on this socket' };
      if (inFlight >= limits.maxInFlight)
        return { reason: 'too-many-in-flight', code: 'SERVER_BUSY', message: 'too many requests in flight' };
      const parsed = definition.schema.safeParse(fields);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(request)'}: ${issue.message}`);
        return { reason: 'bad-fields', message: problems.join('; ') };
      }
      return { type, id, definition, request: parsed.data };
    }

    function receive(message: ChannelMessage): void {
      const id = replyableIdOf(message);
      const admitted = admit(message, id);
      if ('reason' in admitted) {
        refuse(admitted, id, message.type);
        return;
      }
      const { type, definition, request } = admitted;
      inFlight += 1;
      // A promise from the start: a handler that throws synchronously is answered like one that rejects.
      Promise.resolve()
        .then(() => definition.handle(request, origin))
        .then(
          (result) => answer({ type: 'reply', id: admitted.id, result: result ?? null }),
          (error: unknown) => {
            const expected = asExpectedError(error);
            if (expected) {
              answer({ type: 'reply', id: admitted.id, error: { code: expected.code, message: expected.message } });
              return;
            }
            log.error({ err: error, type }, 'request handler failed');
            answer({ type: 'reply', id: admitted.id, error: { code: 'INTERNAL', message: 'internal error' } });
          },
        )
        .catch((error: unknown) => log.error({ err: error, type }, 'request could not be answered'))
        .finally(() => {
          inFlight -= 1;
        });
    }
  }

  return {
    accept,
    push(origin, report) {
      let sent = 0;
      for (const connection of connections) {
        if (connection.origin !== origin) continue;
        try {
          if (connection.channel.send(report)) sent += 1;
        } catch (error) {
          logger.error({ err: error }, 'a report could not be sent');
          break;
        }
      }
      return sent;
    },
    connectionCount: (origin) => [...connections].filter((connection) => connection.origin === origin).length,
    closeAll() {
      for (const connection of connections) connection.channel.close();
    },
  };
}
