import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../../src/api/list-pages.js';
import { updateBackupState } from '../../src/host-records/backup-state.js';
import { recordCheckEnd, recordCheckStart } from '../../src/host-records/repository-checks.js';
import { approve, enrollApproved, enrollPending } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { addManyHostRows } from '../support/host-rows.js';
import { callApi } from '../support/test-context.js';

const keys = useSshKeys({ first: 'ed25519', second: 'ed25519' });
const api = useTestApi();

function getHost(name: string) {
  return callApi(api.app, 'GET', `/v1/admin/hosts/${name}`, { token: api.adminToken });
}

function patchHost(name: string, body: Record<string, unknown>) {
  return callApi(api.app, 'PATCH', `/v1/admin/hosts/${name}`, { token: api.adminToken, body });
}

describe('GET /v1/admin/hosts', () => {
  it('lists approved hosts by name', async () => {
    await enrollApproved(api.app, api.adminToken, 'web2', keys.second);
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.body.hosts.map((host: { name: string }) => host.name)).toEqual(['web1', 'web2']);
  });

  it("gives each host the same backup and check figures as the host's own view", async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    await enrollApproved(api.app, api.adminToken, 'web2', keys.second);
    updateBackupState(api.context.db, api.clock.now(), 'web1', {
      lastBackupAt: api.clock.now(),
      lastSessionAt: api.clock.now(),
      repositoryBytes: 4096,
    });
    const check = recordCheckStart(api.context.db, 'web2', api.clock.now()).id;
    recordCheckEnd(api.context.db, check, api.clock.now(), { outcome: 'failed', detail: 'segment 3' });
    api.clock.advance(60_000);

    const listed = (await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken })).body.hosts;
    expect(listed).toEqual([(await getHost('web1')).body, (await getHost('web2')).body]);
    expect(listed[0]).toMatchObject({ backupStatus: 'ok', repositoryBytes: 4096, lastCheck: null });
    expect(listed[1]).toMatchObject({ backupStatus: 'never', repositoryBytes: null, lastCheck: { outcome: 'failed' } });
  });

  it('answers a page of at most `limit` hosts with the cursor of the next, and null after the last', async () => {
    addManyHostRows(api.context.db, 5, (index) => `vm${index}`, api.clock.now(), 30_000);
    const first = await callApi(api.app, 'GET', '/v1/admin/hosts?limit=2', { token: api.adminToken });
    expect(first.status).toBe(200);
    expect(first.body.hosts.map((host: { name: string }) => host.name)).toEqual(['vm0', 'vm1']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await callApi(api.app, 'GET', `/v1/admin/hosts?limit=2&cursor=${first.body.nextCursor}`, { token: api.adminToken });
    expect(second.body.hosts.map((host: { name: string }) => host.name)).toEqual(['vm2', 'vm3']);
    const last = await callApi(api.app, 'GET', `/v1/admin/hosts?limit=2&cursor=${second.body.nextCursor}`, { token: api.adminToken });
    expect(last.body).toMatchObject({ hosts: [{ name: 'vm4' }], nextCursor: null });
  });

  it(`answers at most ${DEFAULT_PAGE_LIMIT} hosts when no limit is given`, async () => {
    addManyHostRows(api.context.db, DEFAULT_PAGE_LIMIT + 1, (index) => `vm${String(index).padStart(3, '0')}`, api.clock.now(), 30_000);
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken });
    expect(response.body.hosts).toHaveLength(DEFAULT_PAGE_LIMIT);
    expect(response.body.nextCursor).toEqual(expect.any(String));
  });

  it.each([
    ['a limit of 0', 'limit=0'],
    ['a limit over the maximum', `limit=${MAX_PAGE_LIMIT + 1}`],
    ['a limit that is not a number', 'limit=ten'],
    ['a cursor that is not base64url', 'cursor=%2F%2F%2F'],
    ['a cursor that is not JSON', `cursor=${Buffer.from('vm1').toString('base64url')}`],
    ['a cursor of another shape', `cursor=${Buffer.from(JSON.stringify({ v: 1, after: 42 })).toString('base64url')}`],
    ['an empty cursor', 'cursor='],
    ['an unknown parameter', 'offset=100'],
  ])('refuses %s with a 400 and a JSON body', async (_, query) => {
    const response = await callApi(api.app, 'GET', `/v1/admin/hosts?${query}`, { token: api.adminToken });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: 'BAD_REQUEST' });
  });

  it('does not list a pending enrollment', async () => {
    await enrollPending(api.app, api.adminToken, 'web1', keys.first);
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts', { token: api.adminToken })).body.hosts).toEqual([]);
  });
});

describe('GET /v1/admin/hosts/:name', () => {
  it('shows the host with its UID, key, policy and repository', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await getHost('web1');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      name: 'web1',
      uid: 20_000,
      status: 'active',
      fingerprint: keys.first.fingerprint,
      keyType: 'ssh-ed25519',
      appendOnly: true,
      quotaBytes: null,
      allowFrom: null,
      maxSessions: 2,
      origin: 'enrollment',
      repository: '/backups/web1/repo',
      repoUrl: 'ssh://web1@backup.example.test:2022/./repo',
    });
  });

  it('answers 404 for an unknown host', async () => {
    const response = await getHost('web1');
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('NOT_FOUND');
  });

  it('takes the token policy into the host', async () => {
    const token = (
      await callApi(api.app, 'POST', '/v1/admin/tokens', {
        token: api.adminToken,
        body: { quota: '500G', appendOnly: false, allowFrom: '192.0.2.9/24' },
      })
    ).body.token;
    const enrolled = await callApi(api.app, 'POST', '/v1/enroll', {
      token,
      body: { hostname: 'web1', publicKey: keys.first.publicKey },
      remoteAddress: '192.0.2.30',
    });
    expect(enrolled.status).toBe(202);
    await approve(api.app, api.adminToken, enrolled.body.id, { fingerprint: keys.first.fingerprint });
    expect((await getHost('web1')).body).toMatchObject({ quotaBytes: 500e9, appendOnly: false, allowFrom: '192.0.2.0/24' });
  });
});

describe('PATCH /v1/admin/hosts/:name', () => {
  it('changes quota, append-only, source range and disabled, and asks for a reconcile', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await patchHost('web1', { quota: '1T', appendOnly: false, allowFrom: '198.51.100.0/24', disabled: true });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ quotaBytes: 1e12, appendOnly: false, allowFrom: '198.51.100.0/24', status: 'disabled' });
    expect(api.reconcileCalls).toHaveLength(2);
  });

  it('changes the session cap', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await patchHost('web1', { maxSessions: 5 });
    expect(response.status).toBe(200);
    expect(response.body.maxSessions).toBe(5);
    expect((await getHost('web1')).body.maxSessions).toBe(5);
  });

  it('keeps the UID', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const before = (await getHost('web1')).body.uid;
    await patchHost('web1', { disabled: true });
    await patchHost('web1', { disabled: false, quota: '20M' });
    expect((await getHost('web1')).body.uid).toBe(before);
  });

  it.each([
    ['a quota under 10M', { quota: '1M' }, 'INVALID_QUOTA'],
    ['an allowFrom that is not a range', { allowFrom: '*' }, 'INVALID_CIDR'],
    ['an unknown field', { shell: '/bin/bash' }, 'BAD_REQUEST'],
    ['a wrong type', { disabled: 'yes' }, 'BAD_REQUEST'],
    ['a session cap of zero', { maxSessions: 0 }, 'BAD_REQUEST'],
    ['a session cap given as text', { maxSessions: '5' }, 'BAD_REQUEST'],
  ])('refuses %s', async (_label, body, code) => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await patchHost('web1', body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe(code);
  });

  it('answers 404 for an unknown host', async () => {
    expect((await patchHost('web1', { disabled: true })).status).toBe(404);
  });
});

describe('PATCH /v1/admin/hosts/:name with fullAccessFor', () => {
  it('opens a full-access window for that long, shows its end, and closes it with null', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const opened = await patchHost('web1', { fullAccessFor: '2h' });
    expect(opened.status).toBe(200);
    const end = new Date(api.clock.now().getTime() + 7_200_000).toISOString();
    expect(opened.body).toMatchObject({ appendOnly: true, fullAccessUntil: end });
    const audit = await callApi(api.app, 'GET', '/v1/admin/audit?limit=1', { token: api.adminToken });
    expect(audit.body.entries[0]).toMatchObject({ action: 'host.update', target: 'web1', details: { fullAccessUntil: end } });
    const closed = await patchHost('web1', { fullAccessFor: null });
    expect(closed.body).toMatchObject({ appendOnly: true, fullAccessUntil: null });
  });

  it('ends the window when the host is disabled or gets a new key', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    await patchHost('web1', { fullAccessFor: '2h' });
    await patchHost('web1', { disabled: true });
    expect((await patchHost('web1', { disabled: false })).body.fullAccessUntil).toBeNull();
    await patchHost('web1', { fullAccessFor: '2h' });
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.second);
    await approve(api.app, api.adminToken, id, { fingerprint: keys.second.fingerprint, replaceKey: true });
    expect((await getHost('web1')).body).toMatchObject({ fingerprint: keys.second.fingerprint, fullAccessUntil: null });
  });

  it('shows no window once its time has passed', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    await patchHost('web1', { fullAccessFor: 60 });
    api.clock.advance(60_000);
    expect((await getHost('web1')).body.fullAccessUntil).toBeNull();
  });

  it.each([
    ['more than 7 days', { fullAccessFor: '8d' }, 'INVALID_DURATION'],
    ['a duration that is not one', { fullAccessFor: 'forever' }, 'INVALID_DURATION'],
    ['zero', { fullAccessFor: 0 }, 'INVALID_DURATION'],
    ['a host made not append-only in the same request', { appendOnly: false, fullAccessFor: '1h' }, 'BAD_REQUEST'],
  ])('refuses %s, and changes nothing', async (_label, body, code) => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await patchHost('web1', body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe(code);
    expect((await getHost('web1')).body).toMatchObject({ appendOnly: true, fullAccessUntil: null });
  });
});

describe('DELETE /v1/admin/hosts/:name', () => {
  it('deletes the host and keeps its data', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await callApi(api.app, 'DELETE', '/v1/admin/hosts/web1', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ name: 'web1', status: 'deleted' });
    expect((await getHost('web1')).status).toBe(404);
    expect(api.reconcileCalls).toHaveLength(2);
  });

  it('purges the host with ?purge=true', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const response = await callApi(api.app, 'DELETE', '/v1/admin/hosts/web1?purge=true', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ name: 'web1', status: 'purged' });
  });

  it('answers 404 for an unknown host', async () => {
    expect((await callApi(api.app, 'DELETE', '/v1/admin/hosts/web1', { token: api.adminToken })).status).toBe(404);
  });

  it('treats enrolling a deleted host with kept data as a conflict, and keeps the UID on replaceKey', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    await enrollApproved(api.app, api.adminToken, 'web2', keys.second);
    const uid = (await getHost('web1')).body.uid;
    await callApi(api.app, 'DELETE', '/v1/admin/hosts/web1', { token: api.adminToken });
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.second);
    const listed = await callApi(api.app, 'GET', '/v1/admin/enrollments?status=pending', { token: api.adminToken });
    expect(listed.body.enrollments).toMatchObject([{ id, conflict: true }]);
    const refused = await callApi(api.app, 'POST', `/v1/admin/enrollments/${id}/approve`, {
      token: api.adminToken,
      body: { fingerprint: keys.second.fingerprint },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('HOST_EXISTS');
    await approve(api.app, api.adminToken, id, { fingerprint: keys.second.fingerprint, replaceKey: true });
    expect((await getHost('web1')).body).toMatchObject({ uid, fingerprint: keys.second.fingerprint, status: 'active' });
  });

  it('lets a purged name enroll again without a conflict', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    await callApi(api.app, 'DELETE', '/v1/admin/hosts/web1?purge=true', { token: api.adminToken });
    const id = await enrollPending(api.app, api.adminToken, 'web1', keys.second);
    const listed = await callApi(api.app, 'GET', '/v1/admin/enrollments?status=pending', { token: api.adminToken });
    expect(listed.body.enrollments).toMatchObject([{ id, conflict: false }]);
  });
});
