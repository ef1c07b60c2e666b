import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listDeliveries } from '../../../../src/api/notify/delivery-store.js';
import { createDeliveryWorker, type DeliveryWorker, type DeliveryWorkerOptions } from '../../../../src/api/notify/delivery-worker.js';
import { createHttpSender, type HttpSenderOptions, type ResolveName } from '../../../../src/api/notify/http-sender.js';
import { enqueueEvent, enqueuePing } from '../../../../src/api/notify/queue.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { loadConfig } from '../../../../src/config.js';
import { type Db, migrateDatabase, openDatabase } from '../../../../src/db/connection.js';
import { hosts, webhookDeliveries } from '../../../../src/db/schema.js';
import { upsertHost } from '../../../../src/host-records/hosts-store.js';
import { makeTestContext, TEST_ENVIRONMENT } from '../../../support/test-context.js';
import { waitFor } from '../../../support/wait-for.js';

/** A receiver on 127.0.0.1 that verifies every signature and refuses each message's first `failuresPerMessage` arrivals. */
function startReceiver(secret: () => string, failuresPerMessage: number) {
  const seen = new Map<string, number>();
  const delivered: { id: string; body: unknown }[] = [];
  const pings: { method: string; url: string }[] = [];
  const badSignatures: string[] = [];
  const server: Server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url?.startsWith('/ping/')) {
        pings.push({ method: request.method ?? '', url: request.url });
        response.writeHead(200).end('OK');
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(request.headers['webhook-id']);
      let payload: unknown;
      try {
        payload = new Webhook(secret()).verify(body, request.headers as Record<string, string>);
      } catch {
        badSignatures.push(id);
        response.writeHead(401).end();
        return;
      }
      const arrivals = (seen.get(id) ?? 0) + 1;
      seen.set(id, arrivals);
      if (arrivals <= failuresPerMessage) {
        response.writeHead(503).end();
        return;
      }
      // Deduplicated by webhook-id, as a receiver should.
      if (!delivered.some((entry) => entry.id === id)) delivered.push({ id, body: payload });
      response.writeHead(204).end();
    });
  });
  return new Promise<{
    url: string;
    seen: typeof seen;
    delivered: typeof delivered;
    pings: typeof pings;
    badSignatures: string[];
    close: () => Promise<void>;
  }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        seen,
        delivered,
        pings,
        badSignatures,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

/** A host row with a ping URL, written as it is stored (the URL check of the API is not what these tests are about). */
function addHostWithPingUrl(db: Db, name: string, pingUrl: string): void {
  upsertHost(
    db,
    {
      name,
      keyType: 'ssh-ed25519',
      keyBase64: 'AAAA',
      fingerprint: 'SHA256:x',
      appendOnly: true,
      quotaBytes: null,
      allowFrom: null,
      origin: 'createuser',
      enrollmentId: null,
    },
    new Date(),
  );
  db.update(hosts).set({ pingUrl }).where(eq(hosts.name, name)).run();
}

/** A receiver on 127.0.0.1 that takes every request and never answers; `requests` counts them. */
async function startSilentReceiver() {
  let requests = 0;
  const server = createServer(() => {
    requests += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const FAST_SCHEDULE_MS = [20, 20, 20, 20, 20, 20];

/**
 * The receivers of these tests listen on loopback, which the server refuses to call by default:
 * the tests allow it as an admin would (BORG_SERVER_OUTGOING_ALLOW=127.0.0.0/8), except where they test the refusal.
 */
const LOOPBACK_ALLOWED = '127.0.0.0/8';
const sendToLoopback = createHttpSender({ allowed: LOOPBACK_ALLOWED });

/** How many deliveries one pass of a loop that sends with `options` attempts (and waits for). */
function deliverOnce(db: Db, options: HttpSenderOptions): Promise<number> {
  return createDeliveryWorker({
    db,
    now: () => new Date(),
    send: createHttpSender(options),
    publicUrl: loopbackConfig.publicUrl,
    logger: { warn() {}, error() {} },
  }).deliverDue();
}
const loopbackConfig = loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_OUTGOING_ALLOW: LOOPBACK_ALLOWED });

describe('webhook delivery to a loopback receiver', () => {
  let directory: string;
  let databases: Db[];
  let workers: DeliveryWorker[];

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'sbs-notify-'));
    databases = [];
    workers = [];
  });
  afterEach(async () => {
    for (const worker of workers) await worker.stop();
    for (const db of databases) db.$client.close();
    rmSync(directory, { recursive: true, force: true });
  });

  function openDb(): Db {
    const db = openDatabase(join(directory, 'borg.db'));
    migrateDatabase(db);
    databases.push(db);
    return db;
  }

  function startWorker(db: Db, options: Partial<DeliveryWorkerOptions> = {}): DeliveryWorker {
    const worker = createDeliveryWorker({
      db,
      now: () => new Date(),
      send: sendToLoopback,
      publicUrl: loopbackConfig.publicUrl,
      logger: { warn() {}, error() {} },
      retryScheduleMs: FAST_SCHEDULE_MS,
      pollIntervalMs: 10,
      ...options,
    });
    workers.push(worker);
    worker.start();
    return worker;
  }

  it('delivers each event once, verified, to a receiver that fails three times, across a restart of the loop', async () => {
    let secret = '';
    const receiver = await startReceiver(() => secret, 3);
    try {
      const first = await makeTestContext({ db: openDb(), now: () => new Date(), config: loopbackConfig });
      secret = createWebhook(first.context, { url: `${receiver.url}/hook` }, { actor: 'test' }).secret;
      const ids = ['web1', 'web2', 'web3'].flatMap((host) =>
        enqueueEvent(first.context.db, new Date(), { type: 'host.stale', host, data: { expectedEverySeconds: 93_600 } }),
      );
      const worker = startWorker(first.context.db);
      await waitFor('two failed attempts of every event', () => (ids.every((id) => (receiver.seen.get(id) ?? 0) >= 2) ? true : undefined));
      await worker.stop();

      // Another loop on the same database file, as after a restart of the API process.
      startWorker(openDb());
      await waitFor('every event delivered', () => (receiver.delivered.length === ids.length ? true : undefined));
      expect(receiver.badSignatures).toEqual([]);
      expect(receiver.delivered.map((entry) => entry.id).sort()).toEqual([...ids].sort());
      expect(receiver.delivered.map((entry) => (entry.body as { data: { host: string } }).data.host).sort()).toEqual([
        'web1',
        'web2',
        'web3',
      ]);
      for (const id of ids) expect(receiver.seen.get(id)).toBe(4);
    } finally {
      await receiver.close();
    }
  });

  it('gives up on a receiver that does not answer in time, and records the timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer(() => {});
    silent.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const test = await makeTestContext({ db: openDb(), now: () => new Date(), config: loopbackConfig });
      const { port } = silent.address() as AddressInfo;
      const webhook = createWebhook(test.context, { url: `http://127.0.0.1:${port}/hook` }, { actor: 'test' });
      enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'web1', data: {} });
      const worker = createDeliveryWorker({
        db: test.context.db,
        now: () => new Date(),
        send: sendToLoopback,
        publicUrl: loopbackConfig.publicUrl,
        logger: { warn() {}, error() {} },
        retryScheduleMs: [60_000],
        requestTimeoutMs: 50,
        leaseMs: 120_000,
      });
      expect(await worker.deliverDue()).toBe(1);
      expect(listDeliveries(test.context.db, webhook.id, { limit: 10 }).deliveries).toEqual([
        expect.objectContaining({ status: 'pending', attempts: 1, lastStatusCode: null, lastError: 'timed out' }),
      ]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => silent.close(() => done(undefined)));
    }
  });

  it('calls a host ping URL, and URL/fail for a failure', async () => {
    const receiver = await startReceiver(() => '', 0);
    try {
      const db = openDb();
      addHostWithPingUrl(db, 'web1', `${receiver.url}/ping/abc`);
      enqueuePing(db, new Date(), 'web1', 'success');
      startWorker(db);
      await waitFor('the success ping', () => (receiver.pings.length === 1 ? true : undefined));
      enqueuePing(db, new Date(), 'web1', 'fail');
      await waitFor('the failure ping', () => (receiver.pings.length === 2 ? true : undefined));
      expect(receiver.pings).toEqual([
        { method: 'GET', url: '/ping/abc' },
        { method: 'GET', url: '/ping/abc/fail' },
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('refuses a receiver on loopback when no range is allowed: the delivery fails at once with the reason, and nothing is sent', async () => {
    let secret = '';
    const receiver = await startReceiver(() => secret, 0);
    try {
      // Saved while loopback was allowed; called after the admin took the setting away.
      const test = await makeTestContext({ db: openDb(), now: () => new Date(), config: loopbackConfig });
      const webhook = createWebhook(test.context, { url: `${receiver.url}/hook` }, { actor: 'test' });
      secret = webhook.secret;
      enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'web1', data: {} });
      expect(await deliverOnce(test.context.db, { allowed: null })).toBe(1);
      expect(listDeliveries(test.context.db, webhook.id, { limit: 10 }).deliveries).toEqual([
        expect.objectContaining({
          status: 'failed',
          attempts: 1,
          lastStatusCode: null,
          lastError: 'refused: 127.0.0.1 is a loopback address',
        }),
      ]);
      expect(receiver.seen.size).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it('refuses a ping URL whose name resolves to loopback (localhost, by the system resolver)', async () => {
    const receiver = await startReceiver(() => '', 0);
    try {
      const db = openDb();
      const { port } = new URL(receiver.url);
      addHostWithPingUrl(db, 'web1', `http://localhost:${port}/ping/abc`);
      const id = enqueuePing(db, new Date(), 'web1', 'success') ?? '';
      expect(await deliverOnce(db, { allowed: null })).toBe(1);
      const row = db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)).get();
      expect(row).toMatchObject({
        status: 'failed',
        lastStatusCode: null,
        lastError: expect.stringMatching(/^refused: .*loopback address/),
      });
      expect(receiver.pings).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('judges the address it connects to, not the one the URL was saved with: a name rebound to loopback is refused', async () => {
    let secret = '';
    const receiver = await startReceiver(() => secret, 0);
    try {
      const { port } = new URL(receiver.url);
      // A name is not judged when it is saved (it is no address); by the time it is called it resolves to loopback.
      const test = await makeTestContext({ db: openDb(), now: () => new Date() });
      const webhook = createWebhook(test.context, { url: `http://rebound.example.test:${port}/hook` }, { actor: 'test' });
      secret = webhook.secret;
      const rebound: ResolveName = async (hostname) =>
        hostname === 'rebound.example.test'
          ? [
              { address: '::ffff:127.0.0.1', family: 6 },
              { address: '127.0.0.1', family: 4 },
            ]
          : [];
      const [refusedId = ''] = enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'web1', data: {} });
      expect(await deliverOnce(test.context.db, { allowed: null, resolveName: rebound })).toBe(1);
      expect(test.context.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, refusedId)).get()).toMatchObject({
        status: 'failed',
        lastError: 'refused: 127.0.0.1 is a loopback address, 127.0.0.1 is a loopback address',
      });
      expect(receiver.seen.size).toBe(0);

      // The same name, with loopback allowed and a private address first in the answer: the allowed address is the one connected to.
      const mixed: ResolveName = async () => [
        { address: '10.0.0.1', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ];
      const [deliveredId = ''] = enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'web2', data: {} });
      expect(await deliverOnce(test.context.db, { allowed: LOOPBACK_ALLOWED, resolveName: mixed })).toBe(1);
      expect(receiver.delivered.map((entry) => entry.id)).toEqual([deliveredId]);
    } finally {
      await receiver.close();
    }
  });

  it('delivers to a fast receiver while a receiver that never answers holds its own deliveries', async () => {
    let secret = '';
    const fast = await startReceiver(() => secret, 0);
    const silent = await startSilentReceiver();
    try {
      const test = await makeTestContext({ db: openDb(), now: () => new Date(), config: loopbackConfig });
      createWebhook(test.context, { url: `${silent.url}/hook` }, { actor: 'test' });
      // More deliveries for the silent receiver than one pass takes, all due before the fast receiver's.
      for (let index = 0; index < 30; index += 1) {
        enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: `web${index}`, data: {} });
      }
      secret = createWebhook(test.context, { url: `${fast.url}/hook` }, { actor: 'test' }).secret;
      const [, first = ''] = enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'late1', data: {} });
      // A timeout far beyond the wait below: the fast receiver is served because nothing waits for the silent one.
      startWorker(test.context.db, { requestTimeoutMs: 600_000, leaseMs: 1_200_000, maxInFlightPerDestination: 4 });
      await waitFor('the first event at the fast receiver', () => (fast.delivered.length === 1 ? true : undefined));
      await waitFor('the silent receiver holding its fill', () => (silent.requests() === 4 ? true : undefined));
      // Queued while the silent receiver's attempts are still in flight.
      const [, second = ''] = enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'late2', data: {} });
      await waitFor('the second event at the fast receiver', () => (fast.delivered.length === 2 ? true : undefined));
      expect(fast.delivered.map((entry) => entry.id)).toEqual([first, second]);
      expect(silent.requests()).toBe(4);
    } finally {
      await silent.close();
      await fast.close();
    }
  });
});
