import { eq } from 'drizzle-orm';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createDeliveryWorker, type DeliveryWorkerOptions } from '../../../../src/api/notify/delivery-worker.js';
import type { OutgoingRequest } from '../../../../src/api/notify/http-sender.js';
import { enqueueEvent, enqueuePing } from '../../../../src/api/notify/queue.js';
import { DEFAULT_RETRY_SCHEDULE_MS } from '../../../../src/api/notify/retry-schedule.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { hosts, webhookDeliveries, webhooks } from '../../../../src/db/schema.js';
import { useTestContext } from '../../../support/fixture-hooks.js';
import { addHostRow } from '../../../support/host-rows.js';

const ADMIN = { actor: 'admin:test' };
const test = useTestContext();
const silent = { warn() {}, error() {} };

/** A sender that answers with the given statuses in turn (a string: a network error with that code). */
function scriptedSender(answers: (number | string)[]) {
  const requests: OutgoingRequest[] = [];
  const send = async (request: OutgoingRequest) => {
    requests.push(request);
    const answer = answers.shift() ?? 200;
    if (typeof answer === 'string') throw Object.assign(new TypeError('fetch failed'), { cause: { code: answer } });
    return answer;
  };
  return { send, requests };
}

function worker(send: DeliveryWorkerOptions['send'], options: Partial<DeliveryWorkerOptions> = {}) {
  return createDeliveryWorker({
    db: test.context.db,
    now: test.clock.now,
    send,
    publicUrl: test.context.config.publicUrl,
    logger: silent,
    ...options,
  });
}

function delivery(id: string) {
  return test.context.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)).get();
}

describe('the delivery worker', () => {
  it('POSTs the payload with the Standard Webhooks headers and marks a 2xx delivered', async () => {
    const webhook = createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    const [id = ''] = enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    const sender = scriptedSender([204]);
    expect(await worker(sender.send).deliverDue()).toBe(1);
    expect(sender.requests).toEqual([
      expect.objectContaining({
        method: 'POST',
        url: webhook.url,
        body: delivery(id)?.payload,
        timeoutMs: 10_000,
        headers: expect.objectContaining({
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(test.clock.now().getTime() / 1000),
          'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]{43}=$/),
        }),
      }),
    ]);
    expect(delivery(id)).toMatchObject({
      status: 'delivered',
      attempts: 1,
      lastStatusCode: 204,
      lastError: null,
      deliveredAt: test.clock.now(),
    });
  });

  it('asks only whether anything is due while nothing is: the claim and its join are not built', async () => {
    createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    const sender = scriptedSender([204]);
    const loop = worker(sender.send);
    expect(await loop.deliverDue()).toBe(1);
    // Rows come out of every query through a statement's all(); the due check reads one value with get().
    const reads = vi.spyOn(Object.getPrototypeOf(test.context.db.$client.prepare('select 1')), 'all');
    onTestFinished(() => reads.mockRestore());
    expect(await loop.deliverDue()).toBe(0);
    expect(reads).not.toHaveBeenCalled();
    enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web2', data: {} });
    expect(await loop.deliverDue()).toBe(1);
    expect(sender.requests).toHaveLength(2);
  });

  it('retries after 5 s, 5 min, 30 min, 2 h, 5 h and 10 h, then gives up', async () => {
    createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    const [id = ''] = enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    const sender = scriptedSender([500, 'ECONNREFUSED', 503, 404, 302, 500, 500]);
    const loop = worker(sender.send);
    for (const delayMs of [0, ...DEFAULT_RETRY_SCHEDULE_MS]) {
      test.clock.advance(delayMs - 1);
      expect(await loop.deliverDue()).toBe(0);
      test.clock.advance(1);
      expect(await loop.deliverDue()).toBe(1);
    }
    expect(delivery(id)).toMatchObject({ status: 'failed', attempts: 7, lastStatusCode: 500, lastError: 'HTTP 500' });
    test.clock.advance(365 * 86_400_000);
    expect(await loop.deliverDue()).toBe(0);
    expect(new Set(sender.requests.map((request) => request.headers['webhook-id']))).toEqual(new Set([id]));
  });

  it('records a network failure by its code, without the URL', async () => {
    createWebhook(test.context, { url: 'https://one.example.test/secret-path' }, ADMIN);
    const [id = ''] = enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    await worker(scriptedSender(['ECONNREFUSED']).send).deliverDue();
    expect(delivery(id)).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null, lastError: 'ECONNREFUSED' });
  });

  it('tries a delivery again, with the same id, when the process died while sending it', async () => {
    createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    const [id = ''] = enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    // The first process claims the delivery and never hears back.
    void worker(() => new Promise<number>(() => {})).deliverDue();
    const sender = scriptedSender([200]);
    const restarted = worker(sender.send);
    expect(await restarted.deliverDue()).toBe(0);
    test.clock.advance(60_000);
    expect(await restarted.deliverDue()).toBe(1);
    expect(sender.requests.map((request) => request.headers['webhook-id'])).toEqual([id]);
    expect(delivery(id)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('holds the deliveries of a disabled webhook', async () => {
    const webhook = createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    test.context.db.update(webhooks).set({ disabled: true }).where(eq(webhooks.id, webhook.id)).run();
    expect(await worker(scriptedSender([]).send).deliverDue()).toBe(0);
  });

  it('calls a ping URL with GET, unsigned, and URL/fail for a failure', async () => {
    addHostRow(test.context.db, 'web1', test.clock.now());
    test.context.db.update(hosts).set({ pingUrl: 'https://hc.example.test/ping/abc' }).where(eq(hosts.name, 'web1')).run();
    enqueuePing(test.context.db, test.clock.now(), 'web1', 'success');
    enqueuePing(test.context.db, test.clock.now(), 'web1', 'fail');
    const sender = scriptedSender([200, 200]);
    expect(await worker(sender.send).deliverDue()).toBe(2);
    expect(sender.requests.map(({ method, url, body }) => ({ method, url, body }))).toEqual([
      { method: 'GET', url: 'https://hc.example.test/ping/abc', body: undefined },
      { method: 'GET', url: 'https://hc.example.test/ping/abc/fail', body: undefined },
    ]);
    for (const request of sender.requests) expect(request.headers['webhook-signature']).toBeUndefined();
  });

  it('fails a ping whose host no longer has a ping URL', async () => {
    addHostRow(test.context.db, 'web1', test.clock.now());
    test.context.db.update(hosts).set({ pingUrl: 'https://hc.example.test/ping/abc' }).where(eq(hosts.name, 'web1')).run();
    const id = enqueuePing(test.context.db, test.clock.now(), 'web1', 'success') ?? '';
    test.context.db.update(hosts).set({ pingUrl: null }).where(eq(hosts.name, 'web1')).run();
    const sender = scriptedSender([]);
    expect(await worker(sender.send).deliverDue()).toBe(0);
    expect(sender.requests).toEqual([]);
    expect(delivery(id)).toMatchObject({ status: 'failed', lastError: 'no ping URL' });
  });

  it('keeps only the newest delivered rows', async () => {
    createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      ids.push(...enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: { index } }));
      test.clock.advance(1000);
    }
    const loop = worker(scriptedSender([]).send, { keepFinished: 3 });
    // One webhook gets a few attempts in flight at a time: passes until nothing is due.
    while ((await loop.deliverDue()) > 0);
    const kept = test.context.db
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .all()
      .map((row) => row.id);
    expect(kept.sort()).toEqual(ids.slice(2).sort());
  });
});
