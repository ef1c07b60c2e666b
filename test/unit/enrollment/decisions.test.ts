import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLog } from '../../../src/db/schema.js';
import { approveEnrollment, denyEnrollment } from '../../../src/enrollment/decisions.js';
import { getEnrollment, submitEnrollment } from '../../../src/enrollment/enroll.js';
import { findHost } from '../../../src/enrollment/hosts-store.js';
import { createEnrollmentToken } from '../../../src/enrollment/tokens.js';
import { codeOfAsync } from '../../support/error-codes.js';
import { createKeyDirectory, type GeneratedSshKey, type KeyDirectory } from '../../support/ssh-keys.js';
import { makeTestContext, type TestContext } from '../../support/test-context.js';

const ADMIN = { actor: 'admin:test' };
let keys: KeyDirectory;
let firstKey: GeneratedSshKey;
let secondKey: GeneratedSshKey;
let test: TestContext;

beforeAll(() => {
  keys = createKeyDirectory();
  firstKey = keys.generate('first', 'ed25519');
  secondKey = keys.generate('second', 'ecdsa256');
});

afterAll(() => keys.remove());

beforeEach(async () => {
  test = await makeTestContext();
});

async function enroll(hostname: string, key: GeneratedSshKey) {
  const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
  return submitEnrollment(test.context, { token, hostname, publicKey: key.publicKey, sourceAddress: null });
}

describe('approveEnrollment', () => {
  it('creates the host with the enrolled key and asks for a reconcile', async () => {
    const { id } = await enroll('web1', firstKey);
    const host = await approveEnrollment(test.context, id, { fingerprint: firstKey.fingerprint }, ADMIN);
    expect(host).toMatchObject({
      name: 'web1',
      keyBase64: firstKey.base64,
      fingerprint: firstKey.fingerprint,
      status: 'active',
      appendOnly: true,
    });
    expect(test.reconcileCalls).toHaveLength(1);
    expect(getEnrollment(test.context, id).status).toBe('approved');
  });

  it('refuses another fingerprint and leaves the enrollment pending', async () => {
    const { id } = await enroll('web1', firstKey);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: secondKey.fingerprint }, ADMIN))).toBe(
      'FINGERPRINT_MISMATCH',
    );
    expect(getEnrollment(test.context, id).status).toBe('pending');
    expect(findHost(test.context.db, 'web1')).toBeUndefined();
    expect(test.reconcileCalls).toHaveLength(0);
  });

  it('refuses to approve twice', async () => {
    const { id } = await enroll('web1', firstKey);
    await approveEnrollment(test.context, id, { fingerprint: firstKey.fingerprint }, ADMIN);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: firstKey.fingerprint }, ADMIN))).toBe(
      'ENROLLMENT_NOT_PENDING',
    );
  });

  it('refuses an enrollment that expired', async () => {
    const { id } = await enroll('web1', firstKey);
    test.clock.advance(8 * 86_400_000);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: firstKey.fingerprint }, ADMIN))).toBe(
      'ENROLLMENT_NOT_PENDING',
    );
  });

  it('refuses an unknown id', async () => {
    expect(await codeOfAsync(() => approveEnrollment(test.context, 'nope', { fingerprint: 'x' }, ADMIN))).toBe('NOT_FOUND');
  });

  it('refuses to give an existing host another key without replaceKey', async () => {
    const first = await enroll('web1', firstKey);
    await approveEnrollment(test.context, first.id, { fingerprint: firstKey.fingerprint }, ADMIN);
    const second = await enroll('web1', secondKey);
    expect(await codeOfAsync(() => approveEnrollment(test.context, second.id, { fingerprint: secondKey.fingerprint }, ADMIN))).toBe(
      'HOST_EXISTS',
    );
    expect(findHost(test.context.db, 'web1')?.fingerprint).toBe(firstKey.fingerprint);
  });

  it('replaces the key and keeps the UID with replaceKey', async () => {
    const first = await enroll('web1', firstKey);
    const created = await approveEnrollment(test.context, first.id, { fingerprint: firstKey.fingerprint }, ADMIN);
    const second = await enroll('web1', secondKey);
    const replaced = await approveEnrollment(test.context, second.id, { fingerprint: secondKey.fingerprint, replaceKey: true }, ADMIN);
    expect(replaced).toMatchObject({ uid: created.uid, fingerprint: secondKey.fingerprint, keyType: 'ecdsa-sha2-nistp256' });
  });

  it('audits a re-key with the previous fingerprint', async () => {
    const first = await enroll('web1', firstKey);
    await approveEnrollment(test.context, first.id, { fingerprint: firstKey.fingerprint }, ADMIN);
    const second = await enroll('web1', secondKey);
    await approveEnrollment(test.context, second.id, { fingerprint: secondKey.fingerprint, replaceKey: true }, ADMIN);
    const last = test.context.db.select().from(auditLog).all().at(-1);
    expect(last).toMatchObject({ action: 'enrollment.approve.rekey', target: second.id });
    expect(last?.details).toMatchObject({ host: 'web1', fingerprint: secondKey.fingerprint, previousFingerprint: firstKey.fingerprint });
  });
});

describe('denyEnrollment', () => {
  it('marks the enrollment denied with the reason', async () => {
    const { id } = await enroll('web1', firstKey);
    denyEnrollment(test.context, id, 'unknown machine', ADMIN);
    expect(getEnrollment(test.context, id)).toMatchObject({ status: 'denied', reason: 'unknown machine' });
  });

  it('refuses to approve a denied enrollment', async () => {
    const { id } = await enroll('web1', firstKey);
    denyEnrollment(test.context, id, null, ADMIN);
    expect(await codeOfAsync(() => approveEnrollment(test.context, id, { fingerprint: firstKey.fingerprint }, ADMIN))).toBe(
      'ENROLLMENT_NOT_PENDING',
    );
  });

  it('refuses to deny an approved enrollment', async () => {
    const { id } = await enroll('web1', firstKey);
    await approveEnrollment(test.context, id, { fingerprint: firstKey.fingerprint }, ADMIN);
    expect(await codeOfAsync(() => denyEnrollment(test.context, id, null, ADMIN))).toBe('ENROLLMENT_NOT_PENDING');
  });

  it('refuses to deny an expired enrollment', async () => {
    const { id } = await enroll('web1', firstKey);
    test.clock.advance(8 * 86_400_000);
    expect(await codeOfAsync(() => denyEnrollment(test.context, id, null, ADMIN))).toBe('ENROLLMENT_NOT_PENDING');
  });
});
