import { SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { denyEnrollment } from '../../../../src/api/enrollment/decisions.js';
import { getEnrollment, listEnrollments, listPastEnrollments, submitEnrollment } from '../../../../src/api/enrollment/enroll.js';
import { createEnrollmentToken } from '../../../../src/api/enrollment/tokens.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_TYPE } from '../../../../src/api/tokens/enrollment-token.js';
import { enrollments, enrollmentTokens } from '../../../../src/db/schema.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { useSshKeys, useTestContext } from '../../../support/fixture-hooks.js';

const ADMIN = { actor: 'admin:test' };
const keys = useSshKeys({ vm: 'ed25519' });
const test = useTestContext();

function submit(token: string, changes: { hostname?: string; defaultHostname?: string; publicKey?: unknown } = {}) {
  return submitEnrollment(test.context, { token, publicKey: keys.vm.publicKey, sourceAddress: '192.0.2.10', ...changes });
}

describe('submitEnrollment', () => {
  it('records a pending enrollment with the key fingerprint', async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    const enrollment = await submit(token, { hostname: 'web1' });
    expect(enrollment).toMatchObject({
      status: 'pending',
      hostname: 'web1',
      fingerprint: keys.vm.fingerprint,
      conflict: false,
      sourceAddress: '192.0.2.10',
    });
    expect(enrollment.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('spends the token', async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    await submit(token, { hostname: 'web1' });
    expect(test.context.db.select().from(enrollmentTokens).get()?.status).toBe('consumed');
  });

  it('takes the host name from the token when the request names none', async () => {
    const { token } = await createEnrollmentToken(test.context, { host: 'web1' }, ADMIN);
    expect((await submit(token, { defaultHostname: 'ubuntu' })).hostname).toBe('web1');
  });

  it("takes the VM's own name when neither the request nor the token names the host", async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    expect((await submit(token, { defaultHostname: 'db2' })).hostname).toBe('db2');
  });

  it('refuses a request without any host name', async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    expect(await codeOfAsync(() => submit(token))).toBe('INVALID_HOST_NAME');
  });

  it('refuses another name than the one the token is bound to', async () => {
    const { token } = await createEnrollmentToken(test.context, { host: 'web1' }, ADMIN);
    expect(await codeOfAsync(() => submit(token, { hostname: 'web2' }))).toBe('TOKEN_HOST_MISMATCH');
  });

  it('leaves the token unspent when the key is refused', async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    expect(await codeOfAsync(() => submit(token, { hostname: 'web1', publicKey: 'ssh-dss AAAA' }))).toBe('INVALID_PUBLIC_KEY');
    expect((await submit(token, { hostname: 'web1' })).status).toBe('pending');
  });

  it('refuses a correctly signed token the server never recorded', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: test.signingKey.kid })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setJti('BBBBBBBBBBBBBBBBBBBBBB')
      .setIssuedAt(test.clock.now())
      .setNotBefore(test.clock.now())
      .setExpirationTime(new Date(test.clock.now().getTime() + 60_000))
      .sign(test.signingKey.privateKey);
    expect(await codeOfAsync(() => submit(token, { hostname: 'web1' }))).toBe('TOKEN_INVALID');
  });

  it('refuses a token whose jti is recorded for another token', async () => {
    const { token, jti } = await createEnrollmentToken(test.context, {}, ADMIN);
    const other = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: test.signingKey.kid })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setJti(jti)
      .setIssuedAt(test.clock.now())
      .setNotBefore(test.clock.now())
      .setExpirationTime(new Date(test.clock.now().getTime() + 120_000))
      .sign(test.signingKey.privateKey);
    expect(other).not.toBe(token);
    expect(await codeOfAsync(() => submit(other, { hostname: 'web1' }))).toBe('TOKEN_INVALID');
  });

  it('refuses a used token', async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    await submit(token, { hostname: 'web1' });
    expect(await codeOfAsync(() => submit(token, { hostname: 'web2' }))).toBe('TOKEN_USED');
  });

  it('refuses an expired token', async () => {
    const { token } = await createEnrollmentToken(test.context, { ttl: '15m' }, ADMIN);
    test.clock.advance(16 * 60_000);
    expect(await codeOfAsync(() => submit(token, { hostname: 'web1' }))).toBe('TOKEN_EXPIRED');
  });

  it('copies the token policy into the enrollment', async () => {
    const { token } = await createEnrollmentToken(test.context, { quota: '500G', appendOnly: false, allowFrom: '192.0.2.0/24' }, ADMIN);
    const { id } = await submit(token, { hostname: 'web1' });
    const row = test.context.db.select().from(enrollments).get();
    expect(row).toMatchObject({ id, quotaBytes: 500e9, appendOnly: false, allowFrom: '192.0.2.0/24' });
  });

  it('approves at once with an auto-approve token', async () => {
    const { token } = await createEnrollmentToken(test.context, { host: 'web1', autoApprove: true }, ADMIN);
    expect((await submit(token)).status).toBe('approved');
    expect(test.reconcileCalls).toHaveLength(1);
  });

  it('leaves an auto-approve enrollment pending when the name is taken', async () => {
    const first = await createEnrollmentToken(test.context, { host: 'web1', autoApprove: true }, ADMIN);
    await submit(first.token);
    const second = await createEnrollmentToken(test.context, { host: 'web1', autoApprove: true }, ADMIN);
    expect(await submit(second.token)).toMatchObject({ status: 'pending', conflict: true });
  });
});

describe('getEnrollment', () => {
  it('refuses an unknown id', async () => {
    expect(await codeOfAsync(() => getEnrollment(test.context, 'AAAAAAAAAAAAAAAAAAAAAA'))).toBe('NOT_FOUND');
  });

  it('shows a pending enrollment as expired after seven days', async () => {
    const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
    const { id } = await submit(token, { hostname: 'web1' });
    test.clock.advance(7 * 86_400_000);
    expect(getEnrollment(test.context, id).status).toBe('expired');
  });
});

describe('listEnrollments', () => {
  it('filters by status', async () => {
    const first = await createEnrollmentToken(test.context, {}, ADMIN);
    await submit(first.token, { hostname: 'web1' });
    const second = await createEnrollmentToken(test.context, { host: 'web2', autoApprove: true }, ADMIN);
    await submit(second.token);
    expect(listEnrollments(test.context, 'pending').map((view) => view.hostname)).toEqual(['web1']);
    expect(listEnrollments(test.context, 'approved').map((view) => view.hostname)).toEqual(['web2']);
    expect(listEnrollments(test.context)).toHaveLength(2);
  });

  it('counts a pending enrollment past its expiry as expired, as getEnrollment does, and lists the past ones newest first', async () => {
    const submitFor = async (hostname: string) =>
      (await submit((await createEnrollmentToken(test.context, {}, ADMIN)).token, { hostname })).id;
    const old = await submitFor('old1');
    test.clock.advance(3 * 86_400_000);
    const denied = await submitFor('denied1');
    denyEnrollment(test.context, denied, 'not ours', ADMIN);
    test.clock.advance(3 * 86_400_000);
    const waiting = await submitFor('waiting1');
    test.clock.advance(86_400_000 + 1);

    expect(getEnrollment(test.context, old).status).toBe('expired');
    const names = (views: { hostname: string }[]) => views.map((view) => view.hostname);
    expect(names(listEnrollments(test.context, 'pending'))).toEqual(['waiting1']);
    expect(names(listEnrollments(test.context, 'expired'))).toEqual(['old1']);
    expect(names(listEnrollments(test.context, 'denied'))).toEqual(['denied1']);
    expect(names(listEnrollments(test.context, undefined, 2))).toEqual(['waiting1', 'denied1']);
    expect(names(listPastEnrollments(test.context, 20))).toEqual(['denied1', 'old1']);
    expect(names(listPastEnrollments(test.context, 1))).toEqual(['denied1']);
    expect(getEnrollment(test.context, waiting).status).toBe('pending');
  });

  it('marks as a conflict exactly the pending enrollments whose name a host holds', async () => {
    const approved = await createEnrollmentToken(test.context, { host: 'web1', autoApprove: true }, ADMIN);
    await submit(approved.token);
    await submit((await createEnrollmentToken(test.context, {}, ADMIN)).token, { hostname: 'web1' });
    await submit((await createEnrollmentToken(test.context, {}, ADMIN)).token, { hostname: 'web2' });
    const views = listEnrollments(test.context).map(({ hostname, status, conflict }) => `${hostname} ${status} ${conflict}`);
    // Made in the same millisecond: their order is the ids', which are random.
    expect(views.sort()).toEqual(['web1 approved false', 'web1 pending true', 'web2 pending false']);
  });

  it('reads a long list in a fixed number of queries, not one more per enrollment', async () => {
    const countQueries = async (pending: number) => {
      while (listEnrollments(test.context, 'pending').length < pending) {
        const { token } = await createEnrollmentToken(test.context, {}, ADMIN);
        await submit(token, { hostname: `web${listEnrollments(test.context).length}` });
      }
      const prepare = vi.spyOn(test.context.db.$client, 'prepare');
      try {
        expect(listEnrollments(test.context, 'pending')).toHaveLength(pending);
        return prepare.mock.calls.length;
      } finally {
        prepare.mockRestore();
      }
    };
    const fewQueries = await countQueries(2);
    expect(await countQueries(30)).toBe(fewQueries);
  });
});
