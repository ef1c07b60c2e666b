import { describe, expect, it } from 'vitest';
import { approveEnrollment, denyEnrollment } from '../../../../src/api/enrollment/decisions.js';
import { getEnrollment, submitEnrollment } from '../../../../src/api/enrollment/enroll.js';
import { createEnrollmentToken } from '../../../../src/api/enrollment/tokens.js';
import { auditLog } from '../../../../src/db/schema.js';
import { findHost } from '../../../../src/host-records/hosts-store.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { useSshKeys, useTestContext } from '../../../support/fixture-hooks.js';
import type { GeneratedSshKey } from '../../../support/ssh-keys.js';

const ADMIN = { actor: 'admin:test' };
const keys = useSshKeys({ first: 'ed25519', second: 'ecdsa256' });
const test = useTestContext();

async function enroll(hostname: string, key: GeneratedSshKey) {
  const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
  return submitEnrollment(test.context, { token, hostname, publicKey: key.publicKey, sourceAddress: null });
}

describe('approveEnrollment', () => {
  it('creates the host with the enrolled key and asks for a reconcile', async () => {
    const { id } = await enroll('web1', keys.first);
    const host = await approveEnrollment(test.context, id, { fingerprint: keys.first.fingerprint }, ADMIN);
    expect(host).toMatchObject({
      name: 'web1',
      keyBase64: keys.first.base64,
      fingerprint: keys.first.fingerprint,
      status: 'active',
      appendOnly: true,
    });
    expect(test.reconcileCalls).toHaveLength(1);
    expect(getEnrollment(test.context, id).status).toBe('approved');
  });

  it('refuses another fingerprint and leaves the enrollment pending', async () => {
    const { id } = await enroll('web1', keys.first);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: keys.second.fingerprint }, ADMIN))).toBe(
      'FINGERPRINT_MISMATCH',
    );
    expect(getEnrollment(test.context, id).status).toBe('pending');
    expect(findHost(test.context.db, 'web1')).toBeUndefined();
    expect(test.reconcileCalls).toHaveLength(0);
  });

  it('refuses to approve twice', async () => {
    const { id } = await enroll('web1', keys.first);
    await approveEnrollment(test.context, id, { fingerprint: keys.first.fingerprint }, ADMIN);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: keys.first.fingerprint }, ADMIN))).toBe(
      'ENROLLMENT_NOT_PENDING',
    );
  });

  it('refuses an enrollment that expired', async () => {
    const { id } = await enroll('web1', keys.first);
    test.clock.advance(8 * 86_400_000);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: keys.first.fingerprint }, ADMIN))).toBe(
      'ENROLLMENT_NOT_PENDING',
    );
  });

  it('refuses an unknown id', async () => {
    expect(await codeOfAsync(() => approveEnrollment(test.context, 'nope', { fingerprint: 'x' }, ADMIN))).toBe('NOT_FOUND');
  });

  it('refuses to give an existing host another key without replaceKey', async () => {
    const first = await enroll('web1', keys.first);
    await approveEnrollment(test.context, first.id, { fingerprint: keys.first.fingerprint }, ADMIN);
    const second = await enroll('web1', keys.second);
    expect(await codeOfAsync(() => approveEnrollment(test.context, second.id, { fingerprint: keys.second.fingerprint }, ADMIN))).toBe(
      'HOST_EXISTS',
    );
    expect(findHost(test.context.db, 'web1')?.fingerprint).toBe(keys.first.fingerprint);
  });

  it('replaces the key and keeps the UID with replaceKey', async () => {
    const first = await enroll('web1', keys.first);
    const created = await approveEnrollment(test.context, first.id, { fingerprint: keys.first.fingerprint }, ADMIN);
    const second = await enroll('web1', keys.second);
    const replaced = await approveEnrollment(test.context, second.id, { fingerprint: keys.second.fingerprint, replaceKey: true }, ADMIN);
    expect(replaced).toMatchObject({ uid: created.uid, fingerprint: keys.second.fingerprint, keyType: 'ecdsa-sha2-nistp256' });
  });

  it('audits a re-key with the previous fingerprint', async () => {
    const first = await enroll('web1', keys.first);
    await approveEnrollment(test.context, first.id, { fingerprint: keys.first.fingerprint }, ADMIN);
    const second = await enroll('web1', keys.second);
    await approveEnrollment(test.context, second.id, { fingerprint: keys.second.fingerprint, replaceKey: true }, ADMIN);
    const last = test.context.db.select().from(auditLog).all().at(-1);
    expect(last).toMatchObject({ action: 'enrollment.approve.rekey', target: second.id });
    expect(last?.details).toMatchObject({
      host: 'web1',
      fingerprint: keys.second.fingerprint,
      previousFingerprint: keys.first.fingerprint,
    });
  });
});

describe('denyEnrollment', () => {
  it('marks the enrollment denied with the reason', async () => {
    const { id } = await enroll('web1', keys.first);
    denyEnrollment(test.context, id, 'unknown machine', ADMIN);
    expect(getEnrollment(test.context, id)).toMatchObject({ status: 'denied', reason: 'unknown machine' });
  });

  it('refuses to approve a denied enrollment', async () => {
    const { id } = await enroll('web1', keys.first);
    denyEnrollment(test.context, id, null, ADMIN);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: keys.first.fingerprint }, ADMIN))).toBe(
      'ENROLLMENT_NOT_PENDING',
    );
  });

  it('refuses to deny an approved enrollment', async () => {
    const { id } = await enroll('web1', keys.first);
    await approveEnrollment(test.context, id, { fingerprint: keys.first.fingerprint }, ADMIN);
    expect(await codeOfAsync(() => denyEnrollment(test.context, id, null, ADMIN))).toBe('ENROLLMENT_NOT_PENDING');
  });

  it('refuses to deny an expired enrollment', async () => {
    const { id } = await enroll('web1', keys.first);
    test.clock.advance(8 * 86_400_000);
    expect(await codeOfAsync(() => denyEnrollment(test.context, id, null, ADMIN))).toBe('ENROLLMENT_NOT_PENDING');
  });
});
