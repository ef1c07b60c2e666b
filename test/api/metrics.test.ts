import { describe, expect, it } from 'vitest';
import { recordEndedSession } from '../../src/api/monitoring/session-ended.js';
import { repositoryChecks, webhookDeliveries } from '../../src/db/schema.js';
import type { SessionSummary } from '../../src/domain/session-outcome.js';
import { approve, enroll, enrollApproved, enrollPending, mintToken } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { callApi } from '../support/test-context.js';

const keys = useSshKeys({ web: 'ed25519', db: 'ed25519', pending: 'ed25519' });
const api = useTestApi();
const BACKUP: SessionSummary = {
  transactionsCommitted: 1,
  objectsAdded: 5,
  bytesAdded: 1000,
  manifestRewritten: true,
  uncommittedLeft: false,
  outcome: 'backup',
};

/** Prometheus text to `name{labels}` → value, comments left out. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    samples.set(match[1] as string, Number(match[2]));
  }
  return samples;
}

function endSession(host: string, summary: SessionSummary) {
  recordEndedSession(api.context.db, {
    hostName: host,
    quotaBytes: null,
    startedAt: api.clock.now(),
    endedAt: api.clock.now(),
    clientAddress: '192.0.2.5',
    connections: 1,
    lastCommitBefore: 1,
    lastCommitAfter: 3,
    endedBy: 'client',
    summary,
    repositoryBytes: 123_456,
  });
}

describe('GET /metrics', () => {
  it('refuses a scrape without the admin token', async () => {
    expect((await callApi(api.app, 'GET', '/metrics')).status).toBe(401);
  });

  it('gives hosts by status, pending enrollments, backup age, sizes, sessions, checks and failed deliveries', async () => {
    await enrollApproved(api.app, api.adminToken, 'web', keys.web);
    await enrollApproved(api.app, api.adminToken, 'db', keys.db);
    await enrollPending(api.app, api.adminToken, 'pending', keys.pending);
    endSession('web', BACKUP);
    endSession('web', { ...BACKUP, outcome: 'read-only', transactionsCommitted: 0 });
    api.context.db
      .insert(repositoryChecks)
      .values({ hostName: 'web', startedAt: api.clock.now(), endedAt: api.clock.now(), outcome: 'failed', detail: 'segment 4' })
      .run();
    api.context.db
      .insert(webhookDeliveries)
      .values({
        id: 'msg_x',
        kind: 'ping',
        hostName: 'web',
        eventType: 'ping.success',
        payload: '',
        nextAttemptAt: api.clock.now(),
        status: 'failed',
        createdAt: api.clock.now(),
      })
      .run();
    api.clock.advance(90_000);

    const response = await callApi(api.app, 'GET', '/metrics', { token: api.adminToken });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const samples = parseMetrics(response.text);
    expect(samples.get('borg_server_hosts{status="ok"}')).toBe(1);
    expect(samples.get('borg_server_hosts{status="never"}')).toBe(1);
    expect(samples.get('borg_server_hosts{status="stale"}')).toBe(0);
    expect(samples.get('borg_server_enrollments_pending')).toBe(1);
    expect(samples.get('borg_server_host_seconds_since_last_backup{host="web"}')).toBe(90);
    expect(samples.has('borg_server_host_seconds_since_last_backup{host="db"}')).toBe(false);
    expect(samples.get('borg_server_host_repository_bytes{host="web"}')).toBe(123_456);
    expect(samples.get('borg_server_sessions{outcome="backup"}')).toBe(1);
    expect(samples.get('borg_server_sessions{outcome="read-only"}')).toBe(1);
    expect(samples.get('borg_server_host_last_check_ok{host="web",outcome="failed"}')).toBe(0);
    expect(samples.get('borg_server_webhook_deliveries_failed')).toBe(1);
  });

  it('marks each host stale by its own period, one that never backed up counted from its creation', async () => {
    await enrollApproved(api.app, api.adminToken, 'web', keys.web);
    await enrollApproved(api.app, api.adminToken, 'db', keys.db);
    await callApi(api.app, 'PATCH', '/v1/admin/hosts/web', { token: api.adminToken, body: { expectBackupEvery: '7d' } });
    endSession('web', BACKUP);
    api.clock.advance(25 * 3600_000);
    const fresh = parseMetrics((await callApi(api.app, 'GET', '/metrics', { token: api.adminToken })).text);
    expect(fresh.get('borg_server_host_stale{host="web"}')).toBe(0);
    expect(fresh.get('borg_server_host_stale{host="db"}')).toBe(0);
    api.clock.advance(2 * 3600_000);
    const later = parseMetrics((await callApi(api.app, 'GET', '/metrics', { token: api.adminToken })).text);
    expect(later.get('borg_server_host_stale{host="web"}')).toBe(0);
    expect(later.get('borg_server_host_stale{host="db"}')).toBe(1);
  });

  it('counts the deliveries that failed and will be tried again apart from those that gave up', async () => {
    const delivery = { kind: 'ping' as const, hostName: 'web', eventType: 'ping.success', payload: '', nextAttemptAt: api.clock.now() };
    api.context.db
      .insert(webhookDeliveries)
      .values([
        { ...delivery, id: 'msg_due', status: 'pending', createdAt: api.clock.now() },
        { ...delivery, id: 'msg_retry', status: 'pending', attempts: 1, lastError: 'HTTP 503', createdAt: api.clock.now() },
        { ...delivery, id: 'msg_gone', status: 'failed', attempts: 7, lastError: 'HTTP 503', createdAt: api.clock.now() },
      ])
      .run();
    const samples = parseMetrics((await callApi(api.app, 'GET', '/metrics', { token: api.adminToken })).text);
    expect(samples.get('borg_server_webhook_deliveries_retrying')).toBe(1);
    expect(samples.get('borg_server_webhook_deliveries_failed')).toBe(1);
  });
});

describe('host views and GET /v1/admin/hosts/:name/sessions', () => {
  it('show the last backup and status, and list sessions newest first, a page at a time', async () => {
    await enrollApproved(api.app, api.adminToken, 'web', keys.web);
    const before = await callApi(api.app, 'GET', '/v1/admin/hosts/web', { token: api.adminToken });
    expect(before.body).toMatchObject({ backupStatus: 'never', lastBackupAt: null, repositoryBytes: null, lastCheck: null });
    endSession('web', BACKUP);
    const backupAt = api.clock.now().toISOString();
    api.clock.advance(1000);
    endSession('web', { ...BACKUP, outcome: 'aborted' });
    const host = await callApi(api.app, 'GET', '/v1/admin/hosts/web', { token: api.adminToken });
    expect(host.body).toMatchObject({
      backupStatus: 'ok',
      stale: false,
      lastBackupAt: backupAt,
      repositoryBytes: 123_456,
      expectBackupEverySeconds: 93_600,
    });
    const first = await callApi(api.app, 'GET', '/v1/admin/hosts/web/sessions?limit=1', { token: api.adminToken });
    expect(first.body.sessions).toHaveLength(1);
    expect(first.body.sessions[0]).toMatchObject({ outcome: 'aborted', clientAddress: '192.0.2.5' });
    const next = await callApi(api.app, 'GET', `/v1/admin/hosts/web/sessions?limit=10&cursor=${first.body.nextCursor}`, {
      token: api.adminToken,
    });
    expect(next.body.sessions.map((session: { outcome: string }) => session.outcome)).toEqual(['backup']);
  });

  it('sets the expected backup period at mint and on the host', async () => {
    await enrollApproved(api.app, api.adminToken, 'web', keys.web);
    const patched = await callApi(api.app, 'PATCH', '/v1/admin/hosts/web', { token: api.adminToken, body: { expectBackupEvery: '2h' } });
    expect(patched.body.expectBackupEverySeconds).toBe(7200);
    api.clock.advance(3 * 3600_000);
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts/web', { token: api.adminToken })).body).toMatchObject({
      backupStatus: 'never',
      stale: true,
    });
    const bad = await callApi(api.app, 'PATCH', '/v1/admin/hosts/web', { token: api.adminToken, body: { expectBackupEvery: '5s' } });
    expect(bad.body.error).toBe('BAD_REQUEST');
  });

  it('carries expectBackupEvery from the token through the enrollment into the host', async () => {
    const token = await mintToken(api.app, api.adminToken, { host: 'web', expectBackupEvery: '3h' });
    const enrolled = await enroll(api.app, token, 'web', keys.web);
    await approve(api.app, api.adminToken, enrolled.body.id, { fingerprint: keys.web.fingerprint });
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts/web', { token: api.adminToken })).body.expectBackupEverySeconds).toBe(10_800);
  });

  it('answers 404 for the sessions of an unknown host', async () => {
    expect((await callApi(api.app, 'GET', '/v1/admin/hosts/nope/sessions', { token: api.adminToken })).status).toBe(404);
  });
});
