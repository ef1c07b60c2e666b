import { describe, expect, it } from 'vitest';
import { enqueueEvent } from '../../src/api/notify/queue.js';
import { useTestApi } from '../support/fixture-hooks.js';
import { callApi } from '../support/test-context.js';

const api = useTestApi();

function call(method: string, path: string, body?: unknown) {
  return callApi(api.app, method, path, { token: api.adminToken, ...(body === undefined ? {} : { body }) });
}

async function addWebhook(body: Record<string, unknown> = { url: 'https://hooks.example.test/borg' }) {
  const response = await call('POST', '/v1/admin/webhooks', body);
  expect(response.status).toBe(201);
  return response.body as { id: string; secret: string; url: string; events: string[] };
}

describe('POST /v1/admin/webhooks', () => {
  it('creates a webhook for every event but the opt-in ones, and shows its secret once', async () => {
    const created = await addWebhook();
    expect(created).toMatchObject({ id: expect.stringMatching(/^wh_/), url: 'https://hooks.example.test/borg', disabled: false });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.events).toContain('enrollment.pending');
    expect(created.events).not.toContain('backup.completed');
  });

  it('subscribes to the events it lists, opt-in ones included', async () => {
    expect((await addWebhook({ url: 'https://hooks.example.test/', events: ['backup.completed', 'host.stale'] })).events).toEqual([
      'backup.completed',
      'host.stale',
    ]);
  });

  it.each([
    ['a URL with credentials', { url: 'https://user:pw@hooks.example.test/' }, 'INVALID_URL'],
    ['a non-http URL', { url: 'file:///etc/passwd' }, 'INVALID_URL'],
    ['a URL to loopback', { url: 'http://127.0.0.1:8080/hook' }, 'URL_NOT_ALLOWED'],
    ['a URL to localhost', { url: 'http://localhost:8080/hook' }, 'URL_NOT_ALLOWED'],
    ['a URL to the cloud metadata address', { url: 'http://169.254.169.254/latest/meta-data/' }, 'URL_NOT_ALLOWED'],
    ['a URL to a private address', { url: 'https://10.0.0.5/hook' }, 'URL_NOT_ALLOWED'],
    ['a URL to an IPv4-mapped loopback address', { url: 'http://[::ffff:127.0.0.1]/hook' }, 'URL_NOT_ALLOWED'],
    ['no URL', {}, 'BAD_REQUEST'],
    ['an unknown event', { url: 'https://hooks.example.test/', events: ['host.exploded'] }, 'BAD_REQUEST'],
    ['the test event', { url: 'https://hooks.example.test/', events: ['webhook.test'] }, 'BAD_REQUEST'],
    ['an empty list of events', { url: 'https://hooks.example.test/', events: [] }, 'BAD_REQUEST'],
    ['an unknown field', { url: 'https://hooks.example.test/', secret: 'whsec_AAAA' }, 'BAD_REQUEST'],
    ['an unknown format', { url: 'https://hooks.example.test/', format: 'teams' }, 'BAD_REQUEST'],
    ['a format in capitals', { url: 'https://hooks.example.test/', format: 'Slack' }, 'BAD_REQUEST'],
    ['a format that is not a string', { url: 'https://hooks.example.test/', format: 1 }, 'BAD_REQUEST'],
  ])('refuses %s with a 400', async (_, body, code) => {
    const response = await call('POST', '/v1/admin/webhooks', body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe(code);
  });

  it('creates a standard webhook unless told otherwise', async () => {
    expect(await addWebhook()).toMatchObject({ format: 'standard', secret: expect.stringMatching(/^whsec_/) });
    expect(await addWebhook({ url: 'https://hooks.example.test/', format: 'standard' })).toMatchObject({ format: 'standard' });
  });

  it.each(['slack', 'discord', 'ntfy'])(
    'creates a %s webhook, with no signing secret to show, and lists and audits its format',
    async (format) => {
      const created = await addWebhook({ url: 'https://hooks.example.test/', format });
      expect(created).toMatchObject({ format, secret: null });
      expect((await call('GET', '/v1/admin/webhooks')).body.webhooks).toEqual([expect.objectContaining({ id: created.id, format })]);
      expect((await call('GET', '/v1/admin/audit?limit=1')).body.entries[0]).toMatchObject({ action: 'webhook.add', details: { format } });
    },
  );

  it('keeps nothing of a webhook refused for its format', async () => {
    expect((await call('POST', '/v1/admin/webhooks', { url: 'https://hooks.example.test/', format: 'teams' })).status).toBe(400);
    expect((await call('GET', '/v1/admin/webhooks')).body.webhooks).toEqual([]);
  });

  it('needs an admin token', async () => {
    const response = await callApi(api.app, 'POST', '/v1/admin/webhooks', { body: { url: 'https://hooks.example.test/' } });
    expect(response.status).toBe(401);
  });
});

describe('the webhook secret', () => {
  it('appears in no listing and no audit entry', async () => {
    const created = await addWebhook({ url: 'https://hooks.example.test/path-token-123' });
    const list = await call('GET', '/v1/admin/webhooks');
    expect(list.body.webhooks).toEqual([
      { id: created.id, url: created.url, events: created.events, format: 'standard', disabled: false, createdAt: expect.any(String) },
    ]);
    await call('POST', `/v1/admin/webhooks/${created.id}/test`);
    const deliveries = await call('GET', `/v1/admin/webhooks/${created.id}/deliveries`);
    const audit = await call('GET', '/v1/admin/audit');
    for (const text of [list.text, deliveries.text, audit.text]) expect(text).not.toContain(created.secret.slice(6));
    expect(audit.text).not.toContain('path-token-123');
    expect(audit.body.entries[0]).toMatchObject({
      action: 'webhook.add',
      target: created.id,
      details: { origin: 'https://hooks.example.test' },
    });
  });
});

describe('DELETE /v1/admin/webhooks/:id', () => {
  it('removes the webhook and its queue, and records it', async () => {
    const created = await addWebhook();
    enqueueEvent(api.context.db, api.clock.now(), { type: 'host.stale', host: 'web1', data: {} });
    expect((await call('DELETE', `/v1/admin/webhooks/${created.id}`)).body).toEqual({ id: created.id, status: 'removed' });
    expect((await call('GET', '/v1/admin/webhooks')).body.webhooks).toEqual([]);
    expect((await call('GET', `/v1/admin/webhooks/${created.id}/deliveries`)).status).toBe(404);
    expect((await call('GET', '/v1/admin/audit?limit=1')).body.entries[0]).toMatchObject({ action: 'webhook.remove', target: created.id });
  });

  it('answers 404 for an unknown webhook', async () => {
    const response = await call('DELETE', '/v1/admin/webhooks/wh_nothing');
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('NOT_FOUND');
  });
});

describe('POST /v1/admin/webhooks/:id/test', () => {
  it('queues a webhook.test event for that webhook', async () => {
    const created = await addWebhook();
    const response = await call('POST', `/v1/admin/webhooks/${created.id}/test`);
    expect(response.status).toBe(202);
    const deliveries = await call('GET', `/v1/admin/webhooks/${created.id}/deliveries`);
    expect(deliveries.body.deliveries).toEqual([
      expect.objectContaining({ id: response.body.deliveryId, eventType: 'webhook.test', status: 'pending', attempts: 0 }),
    ]);
  });

  it('answers 404 for an unknown webhook', async () => {
    expect((await call('POST', '/v1/admin/webhooks/wh_nothing/test')).status).toBe(404);
  });
});

describe('GET /v1/admin/webhooks/:id/deliveries', () => {
  it('lists deliveries newest first, a page at a time', async () => {
    const created = await addWebhook();
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      ids.push(...enqueueEvent(api.context.db, api.clock.now(), { type: 'host.stale', host: `web${index}`, data: {} }));
      api.clock.advance(1000);
    }
    const first = await call('GET', `/v1/admin/webhooks/${created.id}/deliveries?limit=2`);
    expect(first.body.deliveries.map((entry: { id: string }) => entry.id)).toEqual([ids[4], ids[3]]);
    const second = await call('GET', `/v1/admin/webhooks/${created.id}/deliveries?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.deliveries.map((entry: { id: string }) => entry.id)).toEqual([ids[2], ids[1]]);
    expect(second.body.deliveries[0]).toMatchObject({ eventType: 'host.stale', host: 'web2', status: 'pending' });
  });

  it.each(['limit=0', 'limit=1001', 'limit=x', 'before=1', 'cursor=x', 'other=1'])('refuses %s with a 400', async (query) => {
    const created = await addWebhook();
    const response = await call('GET', `/v1/admin/webhooks/${created.id}/deliveries?${query}`);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('BAD_REQUEST');
  });
});
