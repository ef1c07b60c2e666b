import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { enqueueEvent, enqueuePing, pingTargetUrl } from '../../../../src/api/notify/queue.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { hosts, webhookDeliveries, webhooks } from '../../../../src/db/schema.js';
import { useTestContext } from '../../../support/fixture-hooks.js';
import { addHostRow } from '../../../support/host-rows.js';

const ADMIN = { actor: 'admin:test' };
const test = useTestContext();

function deliveries() {
  return test.context.db.select().from(webhookDeliveries).all();
}

describe('enqueueEvent', () => {
  it('queues one pending delivery per webhook that subscribes to the type', () => {
    const first = createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    const second = createWebhook(test.context, { url: 'https://two.example.test/hook', events: ['host.stale'] }, ADMIN);
    const ids = enqueueEvent(test.context.db, test.clock.now(), { type: 'enrollment.denied', host: 'web1', data: { enrollmentId: 'e1' } });
    expect(ids).toHaveLength(1);
    const [row] = deliveries();
    expect(row).toMatchObject({ id: ids[0], webhookId: first.id, status: 'pending', attempts: 0, eventType: 'enrollment.denied' });
    expect(row?.nextAttemptAt).toEqual(test.clock.now());
    expect(JSON.parse(row?.payload ?? '')).toEqual({
      type: 'enrollment.denied',
      timestamp: test.clock.now().toISOString(),
      data: { host: 'web1', enrollmentId: 'e1' },
    });
    expect(second.events).toEqual(['host.stale']);
  });

  it('gives each delivery its own webhook-id', () => {
    createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    createWebhook(test.context, { url: 'https://two.example.test/hook' }, ADMIN);
    const ids = enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
  });

  it('sends backup.completed only to webhooks that list it', () => {
    createWebhook(test.context, { url: 'https://default.example.test/hook' }, ADMIN);
    const optedIn = createWebhook(test.context, { url: 'https://in.example.test/hook', events: ['backup.completed'] }, ADMIN);
    enqueueEvent(test.context.db, test.clock.now(), { type: 'backup.completed', host: 'web1', data: {} });
    expect(deliveries().map((row) => row.webhookId)).toEqual([optedIn.id]);
  });

  it('queues nothing for a disabled webhook', () => {
    const webhook = createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    test.context.db.update(webhooks).set({ disabled: true }).where(eq(webhooks.id, webhook.id)).run();
    expect(enqueueEvent(test.context.db, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} })).toEqual([]);
  });

  it('queues nothing when the caller transaction rolls back', () => {
    createWebhook(test.context, { url: 'https://one.example.test/hook' }, ADMIN);
    expect(() =>
      test.context.db.transaction((tx) => {
        enqueueEvent(tx, test.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
        throw new Error('the change failed');
      }),
    ).toThrow('the change failed');
    expect(deliveries()).toEqual([]);
  });
});

describe('enqueuePing', () => {
  function addHost(pingUrl: string | null) {
    addHostRow(test.context.db, 'web1', test.clock.now());
    test.context.db.update(hosts).set({ pingUrl }).where(eq(hosts.name, 'web1')).run();
  }

  it('queues a ping for a host with a ping URL, without copying the URL', () => {
    addHost('https://hc.example.test/ping/abc');
    const id = enqueuePing(test.context.db, test.clock.now(), 'web1', 'fail');
    expect(deliveries()).toEqual([expect.objectContaining({ id, kind: 'ping', hostName: 'web1', eventType: 'ping.fail', payload: '' })]);
  });

  it('does nothing for a host without one', () => {
    addHost(null);
    expect(enqueuePing(test.context.db, test.clock.now(), 'web1', 'success')).toBeNull();
    expect(enqueuePing(test.context.db, test.clock.now(), 'nohost', 'success')).toBeNull();
    expect(deliveries()).toEqual([]);
  });
});

describe('pingTargetUrl', () => {
  it('calls the URL on success and URL/fail on failure, keeping the query', () => {
    expect(pingTargetUrl('https://hc.example.test/ping/abc', 'success')).toBe('https://hc.example.test/ping/abc');
    expect(pingTargetUrl('https://hc.example.test/ping/abc', 'fail')).toBe('https://hc.example.test/ping/abc/fail');
    expect(pingTargetUrl('https://hc.example.test/ping/abc/', 'fail')).toBe('https://hc.example.test/ping/abc/fail');
    expect(pingTargetUrl('https://hc.example.test/p?x=1', 'fail')).toBe('https://hc.example.test/p/fail?x=1');
  });
});
