import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type ChannelMessage, createLineChannel } from '../../../../src/channel/line-channel.js';
import { AppError } from '../../../../src/errors.js';
import {
  type ConnectionLimits,
  createRequestDispatcher,
  type RequestDispatcher,
} from '../../../../src/root/requests/request-dispatcher.js';
import { createRequestTable, defineRequest, type RequestOrigin } from '../../../../src/root/requests/request-table.js';
import { connectedSocketPair } from '../../../support/socket-pair.js';

/**
 * Root's dispatcher behind a real Unix socket connection: the test is the
 * peer, writing raw lines and reading root's replies.
 */

/** Polls every few milliseconds: the peer is in this process, so its answers come quickly (bounded for a busy machine). */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

let removals: (() => void)[] = [];
afterEach(() => {
  for (const remove of removals) remove();
  removals = [];
});

const handled: { type: string; request: unknown; origin: RequestOrigin }[] = [];
afterEach(() => {
  handled.length = 0;
});

function testTable(options: { release?: Promise<void> } = {}) {
  return createRequestTable({
    echo: defineRequest({
      schema: z.strictObject({ text: z.string().max(20) }),
      from: ['api', 'cli'],
      handle(request, origin) {
        handled.push({ type: 'echo', request, origin });
        return { text: request.text, origin };
      },
    }),
    slow: defineRequest({
      schema: z.strictObject({ delayMs: z.number().int().max(1000) }),
      from: ['api'],
      async handle(request) {
        await sleep(request.delayMs);
        await options.release;
        return { waited: request.delayMs };
      },
    }),
    'cli-only': defineRequest({
      schema: z.strictObject({}),
      from: ['cli'],
      handle(request, origin) {
        handled.push({ type: 'cli-only', request, origin });
        return 'done';
      },
    }),
    'fails-expectedly': defineRequest({
      schema: z.strictObject({}),
      from: ['api'],
      handle() {
        throw new AppError('HOST_IN_SESSION', 'the host is busy');
      },
    }),
    'fails-with-a-bug': defineRequest({
      schema: z.strictObject({}),
      from: ['api'],
      async handle() {
        throw new Error('SQLITE_CORRUPT at /srv/state/secret.db');
      },
    }),
    'throws-a-string': defineRequest({
      schema: z.strictObject({}),
      from: ['api'],
      handle() {
        throw 'not an error';
      },
    }),
  });
}

interface Peer {
  socket: Socket;
  replies: ChannelMessage[];
  write(text: string): void;
  request(message: Record<string, unknown>): void;
  /** Resolves with the reply of this id. */
  replyTo(id: string): Promise<ChannelMessage>;
  closed: Promise<void>;
}

interface Harness {
  dispatcher: RequestDispatcher;
  logLines: Record<string, unknown>[];
  connect(origin?: RequestOrigin): Promise<Peer>;
  clock: { nowMs: number };
}

function harness(options: { limits?: Partial<ConnectionLimits>; release?: Promise<void> } = {}): Harness {
  const logLines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(JSON.parse(chunk.toString()));
      callback();
    },
  });
  const clock = { nowMs: 0 };
  const dispatcher = createRequestDispatcher({
    table: testTable({ ...(options.release ? { release: options.release } : {}) }),
    logger: pino({ level: 'warn' }, destination),
    nowMs: () => clock.nowMs,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  return {
    dispatcher,
    logLines,
    clock,
    async connect(origin = 'api') {
      const pair = await connectedSocketPair();
      removals.push(pair.remove);
      dispatcher.accept(pair.far, origin);
      const replies: ChannelMessage[] = [];
      const closed = new Promise<void>((resolve) => pair.near.once('close', () => resolve()));
      createLineChannel(pair.near, { onMessage: (message) => replies.push(message), onDrop: () => {} });
      return {
        socket: pair.near,
        replies,
        closed,
        write: (text) => pair.near.write(text),
        request: (message) => pair.near.write(`${JSON.stringify(message)}\n`),
        async replyTo(id) {
          await until(`the reply to ${id}`, () => replies.some((reply) => reply.id === id));
          return replies.find((reply) => reply.id === id) as ChannelMessage;
        },
      };
    },
  };
}

const refusals = (logLines: Record<string, unknown>[]) => logLines.filter((line) => line.msg === 'channel message refused');

describe('the request dispatcher', () => {
  it("answers a handler's result under the request's id, with the origin of the socket", async () => {
    const { connect } = harness();
    const peer = await connect('cli');
    peer.request({ type: 'echo', id: 'r1', text: 'hello' });
    expect(await peer.replyTo('r1')).toEqual({ type: 'reply', id: 'r1', result: { text: 'hello', origin: 'cli' } });
    expect(handled).toEqual([{ type: 'echo', request: { text: 'hello' }, origin: 'cli' }]);
  });

  it('matches replies to requests by id when they finish out of order', async () => {
    const { connect } = harness();
    const peer = await connect();
    peer.request({ type: 'slow', id: 'first', delayMs: 150 });
    peer.request({ type: 'slow', id: 'second', delayMs: 10 });
    expect(await peer.replyTo('first')).toEqual({ type: 'reply', id: 'first', result: { waited: 150 } });
    expect(peer.replies.map((reply) => reply.id)).toEqual(['second', 'first']);
  });

  it('refuses an unknown type with BAD_REQUEST and logs it', async () => {
    const { connect, logLines } = harness();
    const peer = await connect();
    peer.request({ type: 'host.delete-everything', id: 'u1' });
    expect(await peer.replyTo('u1')).toMatchObject({ type: 'reply', id: 'u1', error: { code: 'BAD_REQUEST' } });
    expect(refusals(logLines)).toMatchObject([{ reason: 'unknown-type', type: 'host.delete-everything', channel: 'api' }]);
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('finds nothing for the type "%s"', async (type) => {
    const { connect } = harness();
    const peer = await connect();
    peer.request({ type, id: 'p1' });
    expect(await peer.replyTo('p1')).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'unknown request type' } });
  });

  it('refuses a type the origin may not ask, without calling its handler', async () => {
    const { connect, logLines } = harness();
    const peer = await connect('api');
    peer.request({ type: 'cli-only', id: 'c1' });
    expect(await peer.replyTo('c1')).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(handled).toEqual([]);
    expect(refusals(logLines)).toMatchObject([{ reason: 'not-allowed', type: 'cli-only' }]);
  });

  it.each([
    ['a missing field', { type: 'echo', id: 's1' }],
    ['a field of the wrong type', { type: 'echo', id: 's1', text: 42 }],
    ['a field too long', { type: 'echo', id: 's1', text: 'x'.repeat(21) }],
    ['an unknown field', { type: 'echo', id: 's1', text: 'hi', uid: 0 }],
    ['a __proto__ field', JSON.parse('{"type":"echo","id":"s1","text":"hi","__proto__":{"isAdmin":true}}')],
  ])('refuses %s with BAD_REQUEST, without calling the handler', async (_label, message) => {
    const { connect, logLines } = harness();
    const peer = await connect();
    peer.request(message);
    expect(await peer.replyTo('s1')).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(handled).toEqual([]);
    expect(refusals(logLines)).toMatchObject([{ reason: 'bad-fields' }]);
  });

  it('drops a request without an id (nothing to answer), and one whose type is not a string', async () => {
    const { connect, logLines, clock } = harness();
    const peer = await connect();
    peer.request({ type: 'echo', text: 'hi' });
    await until('the log line', () => refusals(logLines).length === 1);
    clock.nowMs += 1000;
    peer.request({ type: ['echo'], id: 't1', text: 'hi' });
    expect(await peer.replyTo('t1')).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(refusals(logLines).map((line) => line.reason)).toEqual(['no-id', 'no-type']);
    expect(peer.replies).toHaveLength(1);
    expect(handled).toEqual([]);
  });

  it("answers a handler's AppError with its code and message", async () => {
    const { connect } = harness();
    const peer = await connect();
    peer.request({ type: 'fails-expectedly', id: 'e1' });
    expect(await peer.replyTo('e1')).toEqual({ type: 'reply', id: 'e1', error: { code: 'HOST_IN_SESSION', message: 'the host is busy' } });
  });

  it('answers any other failure as INTERNAL without its details, and logs it', async () => {
    const { connect, logLines } = harness();
    const peer = await connect();
    peer.request({ type: 'fails-with-a-bug', id: 'b1' });
    peer.request({ type: 'throws-a-string', id: 'b2' });
    expect(await peer.replyTo('b1')).toEqual({ type: 'reply', id: 'b1', error: { code: 'INTERNAL', message: 'internal error' } });
    expect(await peer.replyTo('b2')).toEqual({ type: 'reply', id: 'b2', error: { code: 'INTERNAL', message: 'internal error' } });
    expect(logLines.filter((line) => line.msg === 'request handler failed')).toHaveLength(2);
  });

  it('answers RATE_LIMITED beyond the burst and the rate, and serves again once tokens refill', async () => {
    const { connect, clock } = harness({ limits: { requestsPerSecond: 10, burst: 5 } });
    const peer = await connect();
    for (let index = 0; index < 8; index += 1) peer.request({ type: 'echo', id: `f${index}`, text: 'x' });
    await until('eight replies', () => peer.replies.length === 8);
    const codeOf = (id: string) => {
      const reply = peer.replies.find((candidate) => candidate.id === id);
      return (reply?.error as { code?: string } | undefined)?.code ?? 'ok';
    };
    // Refusals are answered at once, results a moment later: compared by id.
    expect(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'].map(codeOf)).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'RATE_LIMITED',
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    clock.nowMs += 100;
    peer.request({ type: 'echo', id: 'later', text: 'x' });
    expect(await peer.replyTo('later')).toMatchObject({ result: { text: 'x' } });
  });

  it('logs a flood of refusals once a second per connection, with how many it left out', async () => {
    const { connect, logLines, clock } = harness();
    const peer = await connect();
    peer.write('not json\n'.repeat(100));
    // Lines are read in order: once a request sent after the flood is answered, all 100 were read.
    peer.request({ type: 'echo', id: 'after-flood', text: 'x' });
    await peer.replyTo('after-flood');
    expect(refusals(logLines)).toHaveLength(1);
    clock.nowMs += 1000;
    peer.write('not json\n');
    await until('the second log line', () => refusals(logLines).length === 2);
    expect(refusals(logLines)[1]).toMatchObject({ reason: 'not-json', drops: 101, notLoggedSinceLastLine: 99 });
  });

  it('counts the refusals it did not log when the connection closes', async () => {
    const { connect, logLines } = harness();
    const peer = await connect();
    peer.write('not json\n'.repeat(10));
    await until('the first log line', () => refusals(logLines).length === 1);
    peer.socket.end();
    await until('the closing line', () => logLines.some((line) => line.msg === 'channel connection closed'));
    expect(logLines.find((line) => line.msg === 'channel connection closed')).toMatchObject({ drops: 10, notLoggedSinceLastLine: 9 });
  });

  it('closes a connection that keeps sending garbage, and keeps serving the others', async () => {
    const { connect, dispatcher, logLines } = harness({ limits: { maxDrops: 1000 } });
    const attacker = await connect();
    const admin = await connect();
    attacker.write('{"type":\n'.repeat(1000));
    // Answered only once the 1000 lines before it were read: up to the limit, the connection stays.
    attacker.request({ type: 'echo', id: 'after-garbage', text: 'x' });
    expect(await attacker.replyTo('after-garbage')).toMatchObject({ result: { text: 'x' } });
    expect(attacker.socket.destroyed).toBe(false);
    attacker.write('garbage\n');
    await attacker.closed;
    expect(logLines.some((line) => line.msg === 'channel connection closed: it keeps sending refused messages')).toBe(true);
    admin.request({ type: 'echo', id: 'a1', text: 'still here' });
    expect(await admin.replyTo('a1')).toMatchObject({ result: { text: 'still here' } });
    await until('the closed connection to be forgotten', () => dispatcher.connectionCount('api') === 1);
  });

  it('closes a connection that keeps flooding past the rate', async () => {
    const { connect } = harness({ limits: { requestsPerSecond: 1, burst: 1, maxDrops: 50 } });
    const peer = await connect();
    peer.write(`${JSON.stringify({ type: 'echo', id: 'x', text: 'x' })}\n`.repeat(200));
    await peer.closed;
    const limited = peer.replies.filter((reply) => (reply.error as { code?: string } | undefined)?.code === 'RATE_LIMITED');
    expect(limited.length).toBe(51);
  });

  it('forgives refusals as time passes, so that a connection refused now and then stays open', async () => {
    const { connect, clock } = harness({ limits: { maxDrops: 10, dropsForgivenPerSecond: 1 } });
    const peer = await connect();
    for (let round = 0; round < 5; round += 1) {
      peer.write('not json\n'.repeat(8));
      // The clock moves on only once this round's refusals were counted (a reply sent after them came).
      peer.request({ type: 'echo', id: `round-${round}`, text: 'x' });
      await peer.replyTo(`round-${round}`);
      clock.nowMs += 8000;
    }
    peer.request({ type: 'echo', id: 'still-open', text: 'x' });
    expect(await peer.replyTo('still-open')).toMatchObject({ result: { text: 'x' } });
    peer.write('not json\n'.repeat(11));
    await peer.closed;
  });

  it('answers SERVER_BUSY past the in-flight cap of a connection', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { connect } = harness({ limits: { maxInFlight: 2 }, release: released });
    const peer = await connect();
    peer.request({ type: 'slow', id: 'one', delayMs: 0 });
    peer.request({ type: 'slow', id: 'two', delayMs: 0 });
    peer.request({ type: 'slow', id: 'three', delayMs: 0 });
    expect(await peer.replyTo('three')).toMatchObject({ error: { code: 'SERVER_BUSY' } });
    release();
    expect(await peer.replyTo('two')).toMatchObject({ result: { waited: 0 } });
    peer.request({ type: 'slow', id: 'four', delayMs: 0 });
    expect(await peer.replyTo('four')).toMatchObject({ result: { waited: 0 } });
  });

  it('pushes a report to the connections of one origin only', async () => {
    const { connect, dispatcher } = harness();
    const api = await connect('api');
    const cli = await connect('cli');
    expect(dispatcher.push('api', { type: 'report', what: 'host.changed' })).toBe(1);
    await until('the report', () => api.replies.length === 1);
    expect(api.replies).toEqual([{ type: 'report', what: 'host.changed' }]);
    // A report pushed to the cli connections afterwards is the first thing that connection receives.
    expect(dispatcher.push('cli', { type: 'report', what: 'for-cli' })).toBe(1);
    await until('the cli report', () => cli.replies.length >= 1);
    expect(cli.replies).toEqual([{ type: 'report', what: 'for-cli' }]);
  });

  it('tells the connection hook when a connection opens and closes', async () => {
    const events: string[] = [];
    const dispatcher = createRequestDispatcher({
      table: testTable(),
      logger: pino({ level: 'silent' }),
      onConnection: (origin, state) => events.push(`${origin} ${state}`),
    });
    const pair = await connectedSocketPair();
    removals.push(pair.remove);
    dispatcher.accept(pair.far, 'api');
    expect(events).toEqual(['api opened']);
    pair.near.destroy();
    await until('the close', () => events.length === 2);
    expect(events).toEqual(['api opened', 'api closed']);
  });

  it('closes every connection when asked (the server stops)', async () => {
    const { connect, dispatcher } = harness();
    const peer = await connect();
    dispatcher.closeAll();
    await peer.closed;
  });
});

describe('the request table', () => {
  const handle = () => null;
  it('refuses a schema that lets unknown fields through', () => {
    expect(() => createRequestTable({ loose: { schema: z.object({}), from: ['api'], handle } })).toThrow(TypeError);
  });

  it('refuses the reserved types, a malformed type and a definition nobody may ask', () => {
    const schema = z.strictObject({});
    expect(() => createRequestTable({ reply: { schema, from: ['api'], handle } })).toThrow(TypeError);
    expect(() => createRequestTable({ report: { schema, from: ['api'], handle } })).toThrow(TypeError);
    expect(() => createRequestTable({ 'Host Put': { schema, from: ['api'], handle } })).toThrow(TypeError);
    expect(() => createRequestTable({ 'host.put': { schema, from: [], handle } })).toThrow(TypeError);
    expect(createRequestTable({ 'host.put': { schema, from: ['api'], handle } }).has('host.put')).toBe(true);
  });
});
