import { describe, expect, it } from 'vitest';
import { recordEndedSession } from '../../../../src/api/monitoring/session-ended.js';
import { evaluateStaleness } from '../../../../src/api/monitoring/staleness.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { webhookDeliveries } from '../../../../src/db/schema.js';
import { useTestContext } from '../../../support/fixture-hooks.js';
import { addHostRow } from '../../../support/host-rows.js';

const HOUR = 3600_000;
const test = useTestContext();

function addHost(name: string, expectBackupEveryMs: number | null = null) {
  addHostRow(test.context.db, name, test.clock.now(), { expectBackupEveryMs });
}

function backUp(name: string) {
  recordEndedSession(test.context.db, {
    hostName: name,
    quotaBytes: null,
    startedAt: test.clock.now(),
    endedAt: test.clock.now(),
    clientAddress: '192.0.2.5',
    connections: 1,
    lastCommitBefore: 1,
    lastCommitAfter: 3,
    endedBy: 'client',
    summary: {
      transactionsCommitted: 1,
      objectsAdded: 5,
      bytesAdded: 1000,
      manifestRewritten: true,
      uncommittedLeft: false,
      outcome: 'backup',
    },
    repositoryBytes: 5000,
  });
}

function events() {
  return test.context.db
    .select()
    .from(webhookDeliveries)
    .all()
    .map((row) => `${row.eventType}:${row.hostName}`);
}

describe('evaluateStaleness', () => {
  it('sends host.stale once when a host goes without a backup longer than it expects, and host.recovered once after the next', () => {
    createWebhook(test.context, { url: 'https://hooks.example.test/in' }, { actor: 'admin:test' });
    addHost('web1');
    backUp('web1');
    test.clock.advance(25 * HOUR);
    expect(evaluateStaleness(test.context.db, test.clock.now())).toEqual({ stale: [], recovered: [] });
    test.clock.advance(2 * HOUR);
    expect(evaluateStaleness(test.context.db, test.clock.now()).stale).toEqual(['web1']);
    test.clock.advance(HOUR);
    expect(evaluateStaleness(test.context.db, test.clock.now()).stale).toEqual([]);
    backUp('web1');
    expect(evaluateStaleness(test.context.db, test.clock.now()).recovered).toEqual([]);
    expect(events()).toEqual(['host.stale:web1', 'host.recovered:web1']);
    const stale = test.context.db.select().from(webhookDeliveries).all()[0];
    expect(JSON.parse(stale?.payload ?? '{}').data).toMatchObject({
      host: 'web1',
      lastSessionOutcome: 'backup',
      expectBackupEverySeconds: 93_600,
    });
  });

  it('counts a host that never backed up from its creation', () => {
    addHost('new1', 2 * HOUR);
    test.clock.advance(3 * HOUR);
    expect(evaluateStaleness(test.context.db, test.clock.now()).stale).toEqual(['new1']);
  });

  it("follows each host's own period", () => {
    addHost('hourly', HOUR);
    addHost('daily');
    backUp('hourly');
    backUp('daily');
    test.clock.advance(2 * HOUR);
    expect(evaluateStaleness(test.context.db, test.clock.now()).stale).toEqual(['hourly']);
  });
});
