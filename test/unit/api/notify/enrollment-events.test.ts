import { describe, expect, it } from 'vitest';
import { approveEnrollment, denyEnrollment } from '../../../../src/api/enrollment/decisions.js';
import { submitEnrollment } from '../../../../src/api/enrollment/enroll.js';
import { createEnrollmentToken } from '../../../../src/api/enrollment/tokens.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { webhookDeliveries } from '../../../../src/db/schema.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { useSshKeys, useTestContext } from '../../../support/fixture-hooks.js';

const ADMIN = { actor: 'admin:test' };
const keys = useSshKeys({ vm: 'ed25519', other: 'ed25519' });
const test = useTestContext();

function events() {
  return test.context.db
    .select()
    .from(webhookDeliveries)
    .all()
    .map((row) => JSON.parse(row.payload) as { type: string; data: Record<string, unknown> });
}

async function enroll(options: { host?: string; autoApprove?: boolean } = {}) {
  const { token } = await createEnrollmentToken(test.context, options, ADMIN);
  return submitEnrollment(test.context, { token, hostname: 'web1', publicKey: keys.vm.publicKey, sourceAddress: '192.0.2.7' });
}

describe('enrollment events', () => {
  it('reports a new enrollment as pending, with its fingerprint and the link to approve it', async () => {
    createWebhook(test.context, { url: 'https://hooks.example.test/' }, ADMIN);
    const { id } = await enroll();
    expect(events()).toEqual([
      {
        type: 'enrollment.pending',
        timestamp: test.clock.now().toISOString(),
        data: expect.objectContaining({
          host: 'web1',
          enrollmentId: id,
          fingerprint: keys.vm.fingerprint,
          sourceAddress: '192.0.2.7',
          approvalUrl: `https://backup.example.test:8443/ui/enrollments/${id}`,
        }),
      },
    ]);
  });

  it('reports an approval', async () => {
    createWebhook(test.context, { url: 'https://hooks.example.test/' }, ADMIN);
    const { id } = await enroll();
    await approveEnrollment(test.context, id, { fingerprint: keys.vm.fingerprint }, ADMIN);
    expect(events().map((event) => event.type)).toEqual(['enrollment.pending', 'enrollment.approved']);
    expect(events()[1]?.data).toMatchObject({ host: 'web1', enrollmentId: id, fingerprint: keys.vm.fingerprint, by: 'admin:test' });
  });

  it('reports nothing for an approval that is refused', async () => {
    createWebhook(test.context, { url: 'https://hooks.example.test/' }, ADMIN);
    const { id } = await enroll();
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: keys.other.fingerprint }, ADMIN))).toBe(
      'FINGERPRINT_MISMATCH',
    );
    expect(events().map((event) => event.type)).toEqual(['enrollment.pending']);
  });

  it('reports a denial with its reason', async () => {
    createWebhook(test.context, { url: 'https://hooks.example.test/' }, ADMIN);
    const { id } = await enroll();
    denyEnrollment(test.context, id, 'unknown machine', ADMIN);
    expect(events()[1]).toMatchObject({ type: 'enrollment.denied', data: { host: 'web1', enrollmentId: id, reason: 'unknown machine' } });
  });

  it('reports an auto-approved enrollment as approved only', async () => {
    createWebhook(test.context, { url: 'https://hooks.example.test/' }, ADMIN);
    await enroll({ host: 'web1', autoApprove: true });
    expect(events()).toEqual([expect.objectContaining({ type: 'enrollment.approved', data: expect.objectContaining({ host: 'web1' }) })]);
  });
});
