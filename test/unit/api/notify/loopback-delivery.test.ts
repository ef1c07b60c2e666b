import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listDeliveries } from '../../../../src/api/notify/delivery-store.js';
import { createDeliveryWorker, type DeliveryWorker } from '../../../../src/api/notify/delivery-worker.js';
import { sendHttpRequest } from '../../../../src/api/notify/http-sender.js';
import { enqueueEvent, enqueuePing } from '../../../../src/api/notify/queue.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { type Db, migrateDatabase, openDatabase } from '../../../../src/db/connection.js';
import { hosts } from '../../../../src/db/schema.js';
import { upsertHost } from '../../../../src/host-records/hosts-store.js';
import { makeTestContext } from '../../../support/test-context.js';
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

const FAST_SCHEDULE_MS = [20, 20, 20, 20, 20, 20];

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

  function startWorker(db: Db): DeliveryWorker {
    const worker = createDeliveryWorker({
      db,
      now: () => new Date(),
      send: sendHttpRequest,
      logger: { warn() {}, error() {} },
      retryScheduleMs: FAST_SCHEDULE_MS,
      pollIntervalMs: 10,
    });
    workers.push(worker);
    worker.start();
    return worker;
  }

  it('delivers each event once, verified, to a receiver that fails three times, across a restart of the loop', async () => {
    let secret = '';
    const receiver = await startReceiver(() => secret, 3);
    try {
      const first = await makeTestContext({ db: openDb(), now: () => new Date() });
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
      const test = await makeTestContext({ db: openDb(), now: () => new Date() });
      const { port } = silent.address() as AddressInfo;
      const webhook = createWebhook(test.context, { url: `http://127.0.0.1:${port}/hook` }, { actor: 'test' });
      enqueueEvent(test.context.db, new Date(), { type: 'host.stale', host: 'web1', data: {} });
      const worker = createDeliveryWorker({
        db: test.context.db,
        now: () => new Date(),
        send: sendHttpRequest,
        logger: { warn() {}, error() {} },
        retryScheduleMs: [60_000],
        requestTimeoutMs: 50,
        leaseMs: 120_000,
      });
      expect(await worker.deliverDue()).toBe(1);
      expect(listDeliveries(test.context.db, webhook.id, { limit: 10 })).toEqual([
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
      upsertHost(
        db,
        {
          name: 'web1',
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
      db.update(hosts)
        .set({ pingUrl: `${receiver.url}/ping/abc` })
        .where(eq(hosts.name, 'web1'))
        .run();
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
});
