import { describe, expect, it } from 'vitest';
import { listAudit } from '../../src/api/audit/audit-log.js';
import { applyRootReports } from '../../src/api/root-reports.js';
import { findMaintenanceHold, holdMaintenance } from '../../src/host-records/maintenance-holds.js';
import { readMaintainer } from '../../src/root/requests/maintainer-requests.js';
import { enrollApproved } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { callApi, createTestAdminToken } from '../support/test-context.js';
import { createWebClient } from '../support/web-client.js';

const keys = useSshKeys({ vm: 'ed25519', trusted: 'ed25519', other: 'ed25519' });
const api = useTestApi();

const admin = (method: string, path: string, body?: Record<string, unknown>) =>
  callApi(api.app, method, path, { token: api.adminToken, ...(body === undefined ? {} : { body }) });

const addTrusted = (fields: Record<string, unknown> = {}) =>
  admin('POST', '/v1/admin/maintainers', { name: 'trusted', publicKey: keys.trusted.publicKey, allowFrom: '192.0.2.10', ...fields });

describe('/v1/admin/maintainers', () => {
  it('registers a maintainer with root first, then keeps root’s answer and an audit entry', async () => {
    const response = await addTrusted();
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ name: 'trusted', fingerprint: keys.trusted.fingerprint, allowFrom: '192.0.2.10', hosts: [] });
    expect(readMaintainer(api.rootDb, 'trusted')).toMatchObject({ fingerprint: keys.trusted.fingerprint });
    expect((await admin('GET', '/v1/admin/maintainers')).body.maintainers).toEqual([response.body]);
    expect(listAudit(api.context.db, { limit: 1 })[0]).toMatchObject({ action: 'maintainer.add', target: 'maintainer:trusted' });
  });

  it('refuses a maintainer without a from= range, with a bad key, or with a host’s key, and writes nothing', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const noRange = await admin('POST', '/v1/admin/maintainers', { name: 'trusted', publicKey: keys.trusted.publicKey });
    expect(noRange.status).toBe(400);
    expect((await addTrusted({ allowFrom: '' })).body.error).toBe('INVALID_CIDR');
    expect((await addTrusted({ publicKey: 'ssh-ed25519 AAAA' })).body.error).toBe('INVALID_PUBLIC_KEY');
    const hostKey = await addTrusted({ publicKey: keys.vm.publicKey });
    expect(hostKey.status).toBe(400);
    expect(hostKey.body.message).toContain('web1');
    expect((await admin('GET', '/v1/admin/maintainers')).body.maintainers).toEqual([]);
    expect(readMaintainer(api.rootDb, 'trusted')).toBeNull();
  });

  it('grants and revokes hosts, and grants every host', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    await enrollApproved(api.app, api.adminToken, 'web2', keys.other);
    await addTrusted();
    const granted = await admin('POST', '/v1/admin/maintainers/trusted/grant', { hosts: ['web1', 'web2'] });
    expect(granted.body).toMatchObject({ hosts: ['web1', 'web2'], allHosts: false });
    const revoked = await admin('POST', '/v1/admin/maintainers/trusted/revoke', { hosts: ['web2'] });
    expect(revoked.body).toMatchObject({ hosts: ['web1'] });
    expect((await admin('POST', '/v1/admin/maintainers/trusted/grant', { all: true })).body).toMatchObject({ allHosts: true });
    expect((await admin('POST', '/v1/admin/maintainers/trusted/grant', { hosts: ['nohost'] })).status).toBe(404);
    expect((await admin('POST', '/v1/admin/maintainers/trusted/grant', {})).status).toBe(400);
    expect((await admin('POST', '/v1/admin/maintainers/ghost/grant', { hosts: ['web1'] })).status).toBe(404);
  });

  it('removes a maintainer, and forgets the grants of a deleted host', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    await addTrusted();
    await admin('POST', '/v1/admin/maintainers/trusted/grant', { hosts: ['web1'] });
    expect((await admin('DELETE', '/v1/admin/hosts/web1')).status).toBe(200);
    expect((await admin('GET', '/v1/admin/maintainers/trusted')).body).toMatchObject({ hosts: [] });
    expect((await admin('DELETE', '/v1/admin/maintainers/trusted')).status).toBe(200);
    expect((await admin('GET', '/v1/admin/maintainers/trusted')).status).toBe(404);
    expect(readMaintainer(api.rootDb, 'trusted')).toBeNull();
  });

  it('lets a read token list maintainers but not change them', async () => {
    const read = createTestAdminToken(api.context, 'reader', { role: 'read' });
    expect((await callApi(api.app, 'GET', '/v1/admin/maintainers', { token: read })).status).toBe(200);
    const refused = await callApi(api.app, 'POST', '/v1/admin/maintainers', {
      token: read,
      body: { name: 'trusted', publicKey: keys.trusted.publicKey, allowFrom: '192.0.2.10' },
    });
    expect(refused.status).toBe(403);
    expect(readMaintainer(api.rootDb, 'trusted')).toBeNull();
  });

  it("shows a host's maintenance hold as root reported it, and lets an admin acknowledge it", async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    const heldSince = api.clock.now();
    holdMaintenance(api.rootDb, { hostName: 'web1', heldSince, reason: 'its own key deleted' });
    applyRootReports(api.context.db, [
      {
        id: 1,
        report: { kind: 'maintenance-hold', hostName: 'web1', hold: { heldSince: heldSince.getTime(), reason: 'its own key deleted' } },
      },
    ]);
    expect((await admin('GET', '/v1/admin/hosts/web1')).body.maintenanceHold).toEqual({
      since: heldSince.toISOString(),
      reason: 'its own key deleted',
    });
    const read = createTestAdminToken(api.context, 'reader', { role: 'read' });
    expect((await callApi(api.app, 'POST', '/v1/admin/hosts/web1/acknowledge', { token: read })).status).toBe(403);
    const acknowledged = await admin('POST', '/v1/admin/hosts/web1/acknowledge');
    expect(acknowledged.body).toEqual({ host: 'web1', wasHeld: true });
    expect(findMaintenanceHold(api.rootDb, 'web1')).toBeUndefined();
    expect((await admin('GET', '/v1/admin/hosts/web1')).body.maintenanceHold).toBeNull();
    expect(listAudit(api.context.db, { limit: 1 })[0]).toMatchObject({ action: 'host.acknowledge', target: 'web1' });
    expect((await admin('POST', '/v1/admin/hosts/ghost/acknowledge')).status).toBe(404);
  });

  it("shows on the host's page which maintainers reach it and why they are held, and acknowledges from there", async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.vm);
    await addTrusted();
    await admin('POST', '/v1/admin/maintainers/trusted/grant', { hosts: ['web1'] });
    holdMaintenance(api.context.db, { hostName: 'web1', heldSince: api.clock.now(), reason: 'its own key deleted' });
    holdMaintenance(api.rootDb, { hostName: 'web1', heldSince: api.clock.now(), reason: 'its own key deleted' });
    const web = createWebClient(api.app);
    await web.logIn(api.adminToken);
    const page = await web.get('/ui/hosts/web1');
    expect(page.text).toContain('trusted');
    expect(page.text).toContain('held out since');
    expect(page.text).toContain('its own key deleted');
    const posted = await web.post('/ui/hosts/web1/acknowledge');
    expect(posted.location).toBe('/ui/hosts/web1?notice=acknowledged');
    expect(findMaintenanceHold(api.rootDb, 'web1')).toBeUndefined();
    expect((await web.get('/ui/hosts/web1')).text).not.toContain('held out since');
  });
});
