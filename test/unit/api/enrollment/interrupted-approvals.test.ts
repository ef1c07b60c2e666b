import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getEnrollment, submitEnrollment } from '../../../../src/api/enrollment/enroll.js';
import { completeInterruptedApprovals, INTERRUPTED_APPROVAL_ACTOR } from '../../../../src/api/enrollment/interrupted-approvals.js';
import { createEnrollmentToken } from '../../../../src/api/enrollment/tokens.js';
import { auditLog } from '../../../../src/db/schema.js';
import { upsertHost } from '../../../../src/host-records/hosts-store.js';
import { useSshKeys, useTestContext } from '../../../support/fixture-hooks.js';
import type { GeneratedSshKey } from '../../../support/ssh-keys.js';

const ADMIN = { actor: 'admin:test' };
const keys = useSshKeys({ first: 'ed25519', second: 'ecdsa256' });
const test = useTestContext();

async function enroll(hostname: string, key: GeneratedSshKey) {
  const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
  return submitEnrollment(test.context, { token, hostname, publicKey: key.publicKey, sourceAddress: null });
}

/** Root's host row as its report gives it the API: made for enrollment `id` with `key`. */
function rootMadeHost(name: string, key: GeneratedSshKey, enrollmentId: string, uid = 2001) {
  upsertHost(
    test.context.db,
    {
      name,
      uid,
      keyType: key.type,
      keyBase64: key.base64,
      fingerprint: key.fingerprint,
      appendOnly: true,
      quotaBytes: null,
      allowFrom: null,
      origin: 'enrollment',
      enrollmentId,
    },
    new Date(),
  );
}

describe('completeInterruptedApprovals', () => {
  it('approves a pending enrollment whose host root made with its key (a crash cut the approval short)', async () => {
    const { id } = await enroll('web1', keys.first);
    rootMadeHost('web1', keys.first, id);
    expect(completeInterruptedApprovals(test.context.db, new Date())).toEqual([id]);
    expect(getEnrollment(test.context, id).status).toBe('approved');
    const audit = test.context.db.select().from(auditLog).where(eq(auditLog.target, id)).all();
    expect(audit.map((entry) => [entry.actor, entry.action])).toContainEqual([INTERRUPTED_APPROVAL_ACTOR, 'enrollment.approve']);
    // Once only.
    expect(completeInterruptedApprovals(test.context.db, new Date())).toEqual([]);
  });

  it('leaves an enrollment pending when the host has another key or came from another enrollment', async () => {
    const first = await enroll('web1', keys.first);
    const second = await enroll('web2', keys.second);
    rootMadeHost('web1', keys.second, first.id);
    rootMadeHost('web2', keys.second, 'another-enrollment', 2002);
    expect(completeInterruptedApprovals(test.context.db, new Date())).toEqual([]);
    expect(getEnrollment(test.context, first.id).status).toBe('pending');
    expect(getEnrollment(test.context, second.id).status).toBe('pending');
  });
});
