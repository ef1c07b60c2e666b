import type { Duplex } from 'node:stream';

/**
 * Newline-delimited JSON over a stream (a Unix socket between the API process
 * and root, or between `borgctl` and root). Used by both sides, so it holds
 * nothing of either: it frames, parses and bounds, and hands on objects.
 *
 * What the peer sends can never throw out of here nor grow memory past the
 * caps: a line over MAX_LINE_BYTES is skipped up to its newline without being
 * kept, a line that is not UTF-8, not JSON or not an object is dropped, and
 * each drop is told to `onDrop`. A peer that does not read what we send is cut
 * off once `maxUnsentBytes` wait in the socket, instead of growing our buffer.
 */

/** The longest line either side accepts or sends, newline excluded. */
export const MAX_LINE_BYTES = 256 * 1024;
/** Bytes written and not yet taken by the peer, at most, before the channel is closed. */
export const MAX_UNSENT_BYTES = 4 * MAX_LINE_BYTES;

export type DropReason = 'overlong' | 'not-utf8' | 'not-json' | 'not-an-object' | 'handler-failed';

export type ChannelMessage = Record<string, unknown>;

export interface LineChannelOptions {
  onMessage: (message: ChannelMessage, lineBytes: number) => void;
  onDrop: (reason: DropReason) => void;
  onClose?: () => void;
  maxLineBytes?: number;
  maxUnsentBytes?: number;
}

export interface LineChannel {
  /**
   * Writes one message as one line; false when the channel is closed (nothing
   * written). Throws a RangeError, writing nothing, when our own message would
   * exceed the line cap or cannot be serialised: that is a bug on our side.
   */
  send(message: object): boolean;
  /** Ends the channel now; pending input is discarded. */
  close(): void;
  readonly isClosed: boolean;
}

const NEWLINE = 0x0a;

export function createLineChannel(stream: Duplex, options: LineChannelOptions): LineChannel {
  const { onMessage, onDrop, onClose, maxLineBytes = MAX_LINE_BYTES, maxUnsentBytes = MAX_UNSENT_BYTES } = options;
  if (maxLineBytes < 2 || maxUnsentBytes < maxLineBytes) throw new TypeError('line channel needs maxUnsentBytes >= maxLineBytes >= 2');
  // fatal: a line that is not valid UTF-8 is dropped rather than read with replacement characters.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  /** The pieces of the line being read, at most maxLineBytes in all; null while an overlong line is skipped. */
  let partial: Buffer[] | null = [];
  let partialBytes = 0;
  let isClosed = false;

  function drop(reason: DropReason): void {
    try {
      onDrop(reason);
    } catch {
      // The drop callback is ours; whatever it does wrong must not reach the stream's reader.
    }
  }

  function deliver(line: Buffer): void {
    let text: string;
    let message: unknown;
    try {
      text = decoder.decode(line);
    } catch {
      drop('not-utf8');
      return;
    }
    try {
      message = JSON.parse(text);
    } catch {
      drop('not-json');
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      drop('not-an-object');
      return;
    }
    try {
      onMessage(message as ChannelMessage, line.length);
    } catch {
      drop('handler-failed');
    }
  }

  function receive(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length && !isClosed) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      const piece = chunk.subarray(start, end);
      if (partial !== null) {
        if (partialBytes + piece.length > maxLineBytes) {
          partial = null;
          partialBytes = 0;
          drop('overlong');
        } else if (piece.length > 0) {
          // A copy: the stream may reuse the chunk's memory once this handler returns.
          partial.push(Buffer.from(piece));
          partialBytes += piece.length;
        }
      }
      if (newline === -1) return;
      if (partial !== null) deliver(Buffer.concat(partial, partialBytes));
      // After a newline, a fresh line begins (the end of an overlong one stops the skipping).
      partial = [];
      partialBytes = 0;
      start = newline + 1;
    }
  }

  function close(): void {
    if (isClosed) return;
    isClosed = true;
    partial = null;
    stream.destroy();
  }

  stream.on('data', (chunk: Buffer | string) => receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  // Without a listener, an 'error' (a reset, a broken pipe) would be an uncaught exception.
  stream.on('error', () => close());
  stream.on('end', () => close());
  stream.once('close', () => {
    isClosed = true;
    partial = null;
    try {
      onClose?.();
    } catch {
      // As for onDrop: ours, and never the reader's problem.
    }
  });

  return {
    send(message) {
      if (isClosed || stream.destroyed) return false;
      const line = JSON.stringify(message);
      if (typeof line !== 'string') throw new RangeError('a channel message must serialise to JSON');
      const bytes = Buffer.byteLength(line);
      if (bytes > maxLineBytes) throw new RangeError(`a channel message of ${bytes} bytes exceeds the line cap of ${maxLineBytes}`);
      stream.write(`${line}\n`);
      // A peer that asks and never reads would otherwise grow our write buffer without end.
      if (stream.writableLength > maxUnsentBytes) close();
      return true;
    },
    close,
    get isClosed() {
      return isClosed;
    },
  };
}
