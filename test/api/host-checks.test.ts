import { describe, expect, it } from 'vitest';
import { recordCheckEnd, recordCheckStart } from '../../src/host-records/repository-checks.js';
import { enrollApproved } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { callApi } from '../support/test-context.js';

const keys = useSshKeys({ first: 'ed25519' });
const api = useTestApi();

describe('the repository checks of a host', () => {
  it('lists the checks of the host, newest first', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const first = recordCheckStart(api.context.db, 'web1', api.clock.now()).id;
    recordCheckEnd(api.context.db, first, api.clock.now(), { outcome: 'ok', detail: null });
    const second = recordCheckStart(api.context.db, 'web1', api.clock.now()).id;
    recordCheckEnd(api.context.db, second, api.clock.now(), { outcome: 'failed', detail: 'Data integrity error: segment 2' });
    const response = await callApi(api.app, 'GET', '/v1/admin/hosts/web1/checks', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.body.checks).toEqual([
      expect.objectContaining({ id: second, hostName: 'web1', outcome: 'failed', detail: 'Data integrity error: segment 2' }),
      expect.objectContaining({ id: first, hostName: 'web1', outcome: 'ok', detail: null }),
    ]);
  });

  it('queues a check with the server and answers 202', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    const asked: string[] = [];
    api.context.requestCheck = async (hostName) => {
      asked.push(hostName);
    };
    const response = await callApi(api.app, 'POST', '/v1/admin/hosts/web1/checks', { token: api.adminToken });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ host: 'web1', status: 'queued' });
    expect(asked).toEqual(['web1']);
  });

  it('answers 404 for an unknown host, and asks the server nothing', async () => {
    const asked: string[] = [];
    api.context.requestCheck = async (hostName) => {
      asked.push(hostName);
    };
    expect((await callApi(api.app, 'POST', '/v1/admin/hosts/web9/checks', { token: api.adminToken })).status).toBe(404);
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts/web9/checks', { token: api.adminToken })).status).toBe(404);
    expect(asked).toEqual([]);
  });

  it('needs an admin token', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts/web1/checks', {})).status).toBe(401);
    expect((await callApi(api.app, 'POST', '/v1/admin/hosts/web1/checks', {})).status).toBe(401);
  });

  it('checks weekly by default; checkEvery changes the schedule or turns it off', async () => {
    await enrollApproved(api.app, api.adminToken, 'web1', keys.first);
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts/web1', { token: api.adminToken })).body.checkEverySeconds).toBe(604_800);
    const patch = (checkEvery: unknown) =>
      callApi(api.app, 'PATCH', '/v1/admin/hosts/web1', { token: api.adminToken, body: { checkEvery } });
    expect((await patch('2d')).body.checkEverySeconds).toBe(172_800);
    expect((await patch('none')).body.checkEverySeconds).toBeNull();
    const refused = await patch('10m');
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('INVALID_DURATION');
  });
});
