import { describe, expect, it } from 'vitest';
import { describeEventPayload } from '../../../../src/api/notify/event-messages.js';
import { renderEventPayload } from '../../../../src/domain/notification-events.js';

const PUBLIC_URL = 'https://backup.example.test';
const AT = new Date('2026-03-02T10:00:00.000Z');
const HOST_PAGE = `${PUBLIC_URL}/ui/hosts/web1`;

function describeEvent(type: string, host: string | undefined, data: Record<string, unknown>) {
  return describeEventPayload(renderEventPayload(type, AT, host, data), PUBLIC_URL);
}

describe('describeEventPayload', () => {
  it.each([
    [
      'enrollment.pending',
      { enrollmentId: 'enr_1', keyType: 'ssh-ed25519', fingerprint: 'SHA256:k', sourceAddress: '192.0.2.1', conflict: true },
      'web1 asks to enroll',
      'Host web1 asks to enroll with key ssh-ed25519 SHA256:k from 192.0.2.1. It would replace the key of the existing host web1. Approve or deny it on the page.',
      `${PUBLIC_URL}/ui/enrollments/enr_1`,
    ],
    [
      'enrollment.approved',
      { enrollmentId: 'enr_1', replacedKey: false, by: 'admin:a' },
      'web1 enrolled',
      'Host web1 was enrolled, approved by admin:a.',
      HOST_PAGE,
    ],
    [
      'enrollment.approved',
      { enrollmentId: 'enr_1', replacedKey: true, by: 'admin:a' },
      'web1 enrolled',
      'The new key of host web1 was approved by admin:a; its old key no longer works.',
      HOST_PAGE,
    ],
    [
      'enrollment.denied',
      { enrollmentId: 'enr_1', reason: null, by: 'admin:a' },
      'web1 enrollment denied',
      'The enrollment of host web1 was denied by admin:a.',
      `${PUBLIC_URL}/ui/enrollments/enr_1`,
    ],
    [
      'host.stale',
      { lastBackupAt: null, lastSessionAt: null, lastSessionOutcome: null, expectBackupEverySeconds: 7200 },
      'web1 is stale',
      'Host web1 has not backed up yet (expected every 2 h).',
      HOST_PAGE,
    ],
    [
      'host.recovered',
      { lastBackupAt: '2026-03-02T09:30:00.000Z' },
      'web1 recovered',
      'Host web1 is backing up again: last backup 2026-03-02 09:30 UTC.',
      HOST_PAGE,
    ],
    [
      'host.quota.high',
      { repositoryBytes: 9_500_000_000, quotaBytes: 10_000_000_000 },
      'web1 quota above 90 %',
      'The repository of host web1 uses 9.5 GB of its 10.0 GB quota (95 %).',
      HOST_PAGE,
    ],
    [
      'host.quota.disabled',
      { quotaBytes: 10_000_000_000, committedBytes: 11_000_000_000 },
      'web1 disabled: over quota',
      'Host web1 was disabled: its repository is over its 10.0 GB storage quota on disk.',
      HOST_PAGE,
    ],
    [
      'host.config-churn.disabled',
      { versionsKept: 12 },
      'web1 disabled: config churn',
      'Host web1 was disabled: its repository config (its key) kept changing (12 versions kept). Look at the host before you enable it again.',
      HOST_PAGE,
    ],
    [
      'host.check.failed',
      { checkId: 4, detail: 'segment 12\n is damaged' },
      'web1 check failed',
      'The integrity check of the repository of host web1 failed: segment 12 is damaged',
      HOST_PAGE,
    ],
    [
      'backup.completed',
      { bytesAdded: 1_234_000, objectsAdded: 3, repositoryBytes: 5_000_000_000 },
      'web1 backed up',
      'Host web1 completed a backup: 1.2 MB added, the repository holds 5.0 GB.',
      HOST_PAGE,
    ],
  ])('tells %s with the host and a link to act on it', (type, data, title, text, link) => {
    expect(describeEvent(type, 'web1', data)).toEqual({ title, text, link, tags: [expect.any(String), type] });
  });

  it('tells the test event with a link to the webhooks', () => {
    expect(describeEvent('webhook.test', undefined, { message: 'a test event', by: 'admin:a' })).toEqual({
      title: 'Test message',
      text: 'A test message from secure-borg-server, sent by admin:a.',
      link: `${PUBLIC_URL}/ui/webhooks`,
      tags: ['bell', 'webhook.test'],
    });
  });

  it('cuts long free text and keeps it on one line', () => {
    const message = describeEvent('host.check.failed', 'web1', { detail: `${'x'.repeat(400)}\nmore` });
    expect(message.text).toBe(`The integrity check of the repository of host web1 failed: ${'x'.repeat(299)}…`);
  });

  it('leaves out details an event does not carry, or carries with the wrong type', () => {
    expect(describeEvent('host.stale', 'web1', { lastBackupAt: 'not a time', expectBackupEverySeconds: '1d' }).text).toBe(
      'Host web1 has not backed up yet.',
    );
  });

  it('names an event type it does not know, with the host page', () => {
    expect(describeEvent('host.exploded', 'web1', {})).toEqual({
      title: 'web1: host.exploded',
      text: 'Event host.exploded for host web1.',
      link: HOST_PAGE,
      tags: ['bell', 'host.exploded'],
    });
  });
});
