import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { AppError } from '../errors.js';
import { REPORT_TYPE, type Report, replySchema, reportSchema } from './channel-messages.js';
import { type ChannelMessage, createLineChannel, type DropReason } from './line-channel.js';

/**
 * The asking side of a channel to root (the API process, or `borgctl` on the
 * control socket), in the manner of OpenSSH's monitor_wrap.c: send a request
 * with a fresh id, wait for the reply with that id. Root's own messages
 * without a request (reports) go to the push handlers.
 */

export interface RequestClient {
  /**
   * Sends `{ type, id, ...fields }` and resolves with the reply's result.
   * Rejects with an AppError: root's code for an error reply, RootUnavailable
   * (ROOT_UNAVAILABLE) when no reply came within `timeoutMs` or the channel closed first.
   */
  ask(type: string, fields: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  /** Writes one message as it is; false when the channel is closed. */
  send(message: object): boolean;
  /** Calls `handler` with each report root pushes; returns a function that stops it. */
  onPush(handler: (report: Report) => void): () => void;
  close(): void;
  /** Resolves once the channel is closed, by either side. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
}

export interface RequestClientOptions {
  /** Told of lines from root that were not a reply, a report or JSON (a bug on root's side; nothing is thrown). */
  onDrop?: (reason: DropReason | 'not-a-reply') => void;
}

/** No answer from root: the channel closed, or (`timedOut`) the reply did not come in time. */
export class RootUnavailable extends AppError {
  constructor(
    message: string,
    readonly timedOut = false,
  ) {
    super('ROOT_UNAVAILABLE', message);
  }
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export function createRequestClient(stream: Duplex, options: RequestClientOptions = {}): RequestClient {
  const { onDrop = () => {} } = options;
  const pending = new Map<string, Pending>();
  const pushHandlers = new Set<(report: Report) => void>();
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });

  function settle(id: string, outcome: { result: unknown } | { error: Error }): void {
    const waiting = pending.get(id);
    // A reply nobody waits for any more (its ask timed out) is let go.
    if (!waiting) return;
    pending.delete(id);
    clearTimeout(waiting.timer);
    if ('error' in outcome) waiting.reject(outcome.error);
    else waiting.resolve(outcome.result);
  }

  function receive(message: ChannelMessage): void {
    if (message.type === REPORT_TYPE) {
      const report = reportSchema.safeParse(message);
      if (report.success) for (const handler of pushHandlers) handler(report.data);
      else onDrop('not-a-reply');
      return;
    }
    const reply = replySchema.safeParse(message);
    if (!reply.success) {
      onDrop('not-a-reply');
      return;
    }
    const { id } = reply.data;
    if ('error' in reply.data) settle(id, { error: new AppError(reply.data.error.code, reply.data.error.message) });
    else settle(id, { result: reply.data.result });
  }

  const channel = createLineChannel(stream, {
    onMessage: receive,
    onDrop,
    onClose() {
      for (const id of [...pending.keys()]) settle(id, { error: new RootUnavailable('the channel to the server closed') });
      markClosed();
    },
  });

  return {
    ask(type, fields, timeoutMs) {
      if (channel.isClosed) return Promise.reject(new RootUnavailable('the channel to the server is closed'));
      const id = randomUUID();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => settle(id, { error: new RootUnavailable('the server did not answer in time', true) }), timeoutMs);
        pending.set(id, { resolve, reject, timer });
        try {
          // type and id last: fields cannot replace them.
          if (!channel.send({ ...fields, type, id })) settle(id, { error: new RootUnavailable('the channel to the server is closed') });
        } catch (error) {
          settle(id, { error: error as Error });
        }
      });
    },
    send: (message) => channel.send(message),
    onPush(handler) {
      pushHandlers.add(handler);
      return () => pushHandlers.delete(handler);
    },
    close: () => channel.close(),
    closed,
    get isClosed() {
      return channel.isClosed;
    },
  };
}
