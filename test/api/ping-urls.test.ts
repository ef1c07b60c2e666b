import { describe, expect, it } from 'vitest';
import { enqueuePing } from '../../src/api/notify/queue.js';
import { webhookDeliveries } from '../../src/db/schema.js';
import { enrollApproved } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { callApi } from '../support/test-context.js';

const keys = useSshKeys({ vm: 'ed25519' });
const api = useTestApi();

function patchHost(body: Record<string, unknown>) {
  return callApi(api.app, 'PATCH', '/v1/admin/hosts/web1', { token: api.adminToken, body });
}

describe('PATCH /v1/admin/hosts/:name with pingUrl', () => {
  it('sets the ping URL, shows it, and removes it with null', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const set = await patchHost({ pingUrl: 'https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278' });
    expect(set.status).toBe(200);
    expect(set.body.pingUrl).toBe('https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278');
    expect(enqueuePing(api.context.db, api.clock.now(), 'web1', 'success')).not.toBeNull();
    expect((await patchHost({ pingUrl: null })).body.pingUrl).toBeNull();
    expect(enqueuePing(api.context.db, api.clock.now(), 'web1', 'success')).toBeNull();
    expect(api.context.db.select().from(webhookDeliveries).all()).toHaveLength(1);
  });

  it('keeps the URL out of the audit log but for its origin', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    await patchHost({ pingUrl: 'https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278' });
    const audit = await callApi(api.app, 'GET', '/v1/admin/audit?limit=1', { token: api.adminToken });
    expect(audit.body.entries[0]).toMatchObject({ action: 'host.update', target: 'web1', details: { pingUrl: 'https://hc-ping.com' } });
    expect(audit.text).not.toContain('5bf66975');
  });

  it.each([
    ['a URL with credentials', 'https://user:secret@hc.example.test/ping'],
    ['another scheme', 'javascript:alert(1)'],
    ['not a URL', 'hc-ping.com/abc'],
  ])('refuses %s with INVALID_URL', async (_, pingUrl) => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const response = await patchHost({ pingUrl });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('INVALID_URL');
    expect(response.text).not.toContain('secret');
  });

  it.each([
    ['a loopback address', 'http://127.0.0.1:3001/api/push/abc'],
    ['a private address', 'http://192.168.1.20:3001/api/push/abc'],
    ['a unique-local address', 'http://[fd00::20]:3001/api/push/abc'],
  ])('refuses a ping URL to %s with URL_NOT_ALLOWED, and keeps the host as it was', async (_, pingUrl) => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const response = await patchHost({ pingUrl });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('URL_NOT_ALLOWED');
    expect(response.body.message).toContain('BORG_SERVER_OUTGOING_ALLOW');
    const host = await callApi(api.app, 'GET', '/v1/admin/hosts/web1', { token: api.adminToken });
    expect(host.body.pingUrl).toBeNull();
  });

  it('refuses a ping URL that is not a string', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    expect((await patchHost({ pingUrl: 42 })).body.error).toBe('BAD_REQUEST');
  });
});
