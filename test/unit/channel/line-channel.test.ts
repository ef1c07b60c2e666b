import { Duplex, PassThrough } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type ChannelMessage, createLineChannel, type DropReason, MAX_LINE_BYTES } from '../../../src/channel/line-channel.js';
import { connectedSocketPair } from '../../support/socket-pair.js';

/** A channel reading what the test writes into `input`; what it received and dropped, in order. */
function listen(options: { maxLineBytes?: number; onMessage?: (message: ChannelMessage) => void } = {}) {
  const input = new PassThrough();
  const messages: ChannelMessage[] = [];
  const drops: DropReason[] = [];
  const channel = createLineChannel(input, {
    onMessage: (message) => {
      messages.push(message);
      options.onMessage?.(message);
    },
    onDrop: (reason) => drops.push(reason),
    ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
  });
  async function feed(...chunks: (string | Buffer)[]) {
    for (const chunk of chunks) {
      input.write(chunk);
      await nextTurn();
    }
  }
  return { input, channel, messages, drops, feed };
}

describe('the line channel reading', () => {
  it('joins a line split over chunks', async () => {
    const { messages, drops, feed } = listen();
    await feed('{"type":"rec', 'oncile","id":"a', '1"}', '\n');
    expect(messages).toEqual([{ type: 'reconcile', id: 'a1' }]);
    expect(drops).toEqual([]);
  });

  it('reads a multi-byte character split between chunks', async () => {
    const { messages, feed } = listen();
    const line = Buffer.from('{"note":"grüße ✓ 😀"}\n');
    // Cut inside the four bytes of the emoji, and inside the ü.
    const emoji = line.indexOf(Buffer.from('😀'));
    const umlaut = line.indexOf(Buffer.from('ü'));
    await feed(line.subarray(0, umlaut + 1), line.subarray(umlaut + 1, emoji + 2), line.subarray(emoji + 2));
    expect(messages).toEqual([{ note: 'grüße ✓ 😀' }]);
  });

  it('reads many messages from one chunk, in order', async () => {
    const { messages, drops, feed } = listen();
    const lines = Array.from({ length: 500 }, (_, index) => JSON.stringify({ type: 'reconcile', id: String(index) }));
    await feed(`${lines.join('\n')}\n`);
    expect(messages.map((message) => message.id)).toEqual(lines.map((_, index) => String(index)));
    expect(drops).toEqual([]);
  });

  it('waits for the newline before it reads a line', async () => {
    const { messages, feed } = listen();
    await feed('{"type":"reconcile"}');
    expect(messages).toEqual([]);
    await feed('\n');
    expect(messages).toHaveLength(1);
  });

  it('drops a line that is not JSON, and reads the next', async () => {
    const { messages, drops, feed } = listen();
    await feed('reconcile\n{"type":"reconcile"}\n');
    expect(drops).toEqual(['not-json']);
    expect(messages).toEqual([{ type: 'reconcile' }]);
  });

  it('drops JSON that is not an object: an array, a string, a number, null', async () => {
    const { messages, drops, feed } = listen();
    await feed('[1,2]\n"reconcile"\n42\nnull\n');
    expect(drops).toEqual(['not-an-object', 'not-an-object', 'not-an-object', 'not-an-object']);
    expect(messages).toEqual([]);
  });

  it('drops a line that is not UTF-8', async () => {
    const { messages, drops, feed } = listen();
    await feed(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]));
    expect(drops).toEqual(['not-utf8']);
    expect(messages).toEqual([]);
  });

  it('drops an empty line', async () => {
    const { drops, feed } = listen();
    await feed('\n');
    expect(drops).toEqual(['not-json']);
  });

  it('accepts a line of exactly the cap and drops one byte more', async () => {
    const { messages, drops, feed } = listen({ maxLineBytes: 32 });
    const exact = `{"pad":"${'x'.repeat(32 - 10)}"}`;
    expect(Buffer.byteLength(exact)).toBe(32);
    await feed(`${exact}\n`, `{"pad":"${'x'.repeat(32 - 9)}"}\n`);
    expect(messages).toHaveLength(1);
    expect(drops).toEqual(['overlong']);
  });

  it('skips an overlong line up to its newline, once, and reads the line after it', async () => {
    const { messages, drops, feed } = listen({ maxLineBytes: 64 });
    await feed('x'.repeat(50), 'x'.repeat(50), 'x'.repeat(500), `${'x'.repeat(10)}\n{"type":"after"}\n`);
    expect(drops).toEqual(['overlong']);
    expect(messages).toEqual([{ type: 'after' }]);
  });

  it('keeps no more than the cap while a 10 MiB line without newline streams in', async () => {
    const { channel, messages, drops, feed } = listen();
    const megabyte = Buffer.alloc(1024 * 1024, 0x61);
    for (let index = 0; index < 10; index += 1) await feed(megabyte);
    expect(drops).toEqual(['overlong']);
    expect(channel.isClosed).toBe(false);
    // The skipped line ends; the channel reads on.
    await feed('\n{"type":"reconcile"}\n');
    expect(messages).toEqual([{ type: 'reconcile' }]);
  });

  it('uses a cap of 256 KiB unless told otherwise', () => {
    expect(MAX_LINE_BYTES).toBe(256 * 1024);
  });

  it('turns a throwing message handler into a drop, and reads on', async () => {
    const { drops, messages, feed } = listen({
      onMessage: (message) => {
        if (message.type === 'boom') throw new Error('handler bug');
      },
    });
    await feed('{"type":"boom"}\n{"type":"fine"}\n');
    expect(drops).toEqual(['handler-failed']);
    expect(messages.map((message) => message.type)).toEqual(['boom', 'fine']);
  });

  it('closes quietly on a stream error instead of throwing it', async () => {
    const { input, channel } = listen();
    input.destroy(new Error('ECONNRESET'));
    await nextTurn();
    expect(channel.isClosed).toBe(true);
  });
});

describe('the line channel writing', () => {
  it('writes one message as one JSON line, newlines inside strings escaped', async () => {
    const pair = await connectedSocketPair();
    try {
      const channel = createLineChannel(pair.near, { onMessage: () => {}, onDrop: () => {} });
      const received = new Promise<string>((resolve) => pair.far.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      expect(channel.send({ type: 'reply', id: 'a', result: 'two\nlines' })).toBe(true);
      expect(await received).toBe('{"type":"reply","id":"a","result":"two\\nlines"}\n');
    } finally {
      pair.remove();
    }
  });

  it('refuses to send a message longer than the cap, writing nothing', () => {
    const output = new PassThrough();
    const channel = createLineChannel(output, { onMessage: () => {}, onDrop: () => {}, maxLineBytes: 64 });
    expect(() => channel.send({ pad: 'x'.repeat(100) })).toThrow(RangeError);
    expect(output.writableLength + output.readableLength).toBe(0);
  });

  it('is false once closed', () => {
    const channel = createLineChannel(new PassThrough(), { onMessage: () => {}, onDrop: () => {} });
    channel.close();
    expect(channel.send({ type: 'reply' })).toBe(false);
  });

  it('closes the channel when the peer does not read what it is sent', () => {
    // A stream whose writes never complete: what a peer that never reads looks like from here.
    const stuck = new Duplex({ read() {}, write() {} });
    const channel = createLineChannel(stuck, { onMessage: () => {}, onDrop: () => {}, maxLineBytes: 1024, maxUnsentBytes: 4096 });
    let sent = 0;
    while (channel.send({ pad: 'x'.repeat(900) })) sent += 1;
    expect(channel.isClosed).toBe(true);
    expect(sent).toBeLessThanOrEqual(6);
  });
});
