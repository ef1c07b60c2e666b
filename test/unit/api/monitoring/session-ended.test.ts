import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { recordEndedSession } from '../../../../src/api/monitoring/session-ended.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { hostSessions, hosts, webhookDeliveries } from '../../../../src/db/schema.js';
import type { SessionSummary } from '../../../../src/domain/session-outcome.js';
import { findBackupState } from '../../../../src/host-records/backup-state.js';
import { listSessions, SESSIONS_KEPT_PER_HOST } from '../../../../src/host-records/host-sessions.js';
import { upsertHost } from '../../../../src/host-records/hosts-store.js';
import { useTestContext } from '../../../support/fixture-hooks.js';

const test = useTestContext();
const BACKUP: SessionSummary = {
  transactionsCommitted: 1,
  objectsAdded: 5,
  bytesAdded: 1000,
  manifestRewritten: true,
  uncommittedLeft: false,
  outcome: 'backup',
};
const ABORTED: SessionSummary = {
  transactionsCommitted: 0,
  objectsAdded: 0,
  bytesAdded: 4000,
  manifestRewritten: false,
  uncommittedLeft: true,
  outcome: 'aborted',
};

function addHost(quotaBytes: number | null = null) {
  upsertHost(
    test.context.db,
    {
      name: 'web1',
      keyType: 'ssh-ed25519',
      keyBase64: 'AAAA',
      fingerprint: 'SHA256:x',
      appendOnly: true,
      quotaBytes,
      allowFrom: null,
      origin: 'createuser',
      enrollmentId: null,
    },
    test.clock.now(),
  );
  test.context.db.update(hosts).set({ pingUrl: 'https://hc.example.test/ping/abc' }).where(eq(hosts.name, 'web1')).run();
}

function end(summary: SessionSummary, repositoryBytes = 5000) {
  test.clock.advance(60_000);
  recordEndedSession(test.context.db, {
    hostName: 'web1',
    quotaBytes: test.context.db.select().from(hosts).get()?.quotaBytes ?? null,
    startedAt: test.clock.now(),
    endedAt: test.clock.now(),
    clientAddress: '192.0.2.5',
    connections: 1,
    lastCommitBefore: 1,
    lastCommitAfter: summary.transactionsCommitted > 0 ? 3 : 1,
    endedBy: 'client',
    summary,
    repositoryBytes,
  });
}

const queued = () =>
  test.context.db
    .select()
    .from(webhookDeliveries)
    .all()
    .map((row) => row.eventType);

describe('recordEndedSession', () => {
  it('after a backup: records it as the last backup, pings success and sends backup.completed to who asked for it', () => {
    addHost();
    createWebhook(test.context, { url: 'https://hooks.example.test/in', events: ['backup.completed'] }, { actor: 'admin:test' });
    end(BACKUP);
    expect(findBackupState(test.context.db, 'web1')).toMatchObject({
      lastBackupAt: test.clock.now(),
      lastSessionAt: test.clock.now(),
      repositoryBytes: 5000,
    });
    expect(queued().sort()).toEqual(['backup.completed', 'ping.success']);
  });

  it('after an aborted session: pings fail and keeps the last backup', () => {
    addHost();
    end(BACKUP);
    const backupAt = test.clock.now();
    end(ABORTED);
    expect(findBackupState(test.context.db, 'web1')).toMatchObject({ lastBackupAt: backupAt, lastSessionAt: test.clock.now() });
    expect(queued()).toEqual(['ping.success', 'ping.fail']);
  });

  it('sends host.quota.high once past 90 % and again only after it went below', () => {
    addHost(10_000_000);
    createWebhook(test.context, { url: 'https://hooks.example.test/in' }, { actor: 'admin:test' });
    end(BACKUP, 9_100_000);
    end(BACKUP, 9_200_000);
    end(BACKUP, 5_000_000);
    end(BACKUP, 9_500_000);
    expect(queued().filter((type) => type === 'host.quota.high')).toHaveLength(2);
  });

  it('keeps the newest sessions of a host and prunes the oldest', () => {
    addHost();
    for (let count = 0; count < SESSIONS_KEPT_PER_HOST + 3; count += 1) end(ABORTED);
    expect(test.context.db.select().from(hostSessions).all()).toHaveLength(SESSIONS_KEPT_PER_HOST);
    const [newest] = listSessions(test.context.db, 'web1', { limit: 1 });
    expect(newest?.endedAt).toEqual(test.clock.now());
  });
});
