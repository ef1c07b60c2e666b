import { describe, expect, it } from 'vitest';
import {
  createEnrollmentToken,
  enrollCommand,
  listEnrollmentTokens,
  revokeEnrollmentToken,
} from '../../../../src/api/enrollment/tokens.js';
import { hashToken, verifyEnrollmentToken } from '../../../../src/api/tokens/enrollment-token.js';
import { auditLog, enrollmentTokens } from '../../../../src/db/schema.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { useTestContext } from '../../../support/fixture-hooks.js';
import { TEST_TLS_IDENTITY } from '../../../support/test-context.js';

const ADMIN = { actor: 'admin:test', sourceAddress: '192.0.2.1' };
const test = useTestContext();

describe('createEnrollmentToken', () => {
  it('mints a token that lives one hour by default', async () => {
    const created = await createEnrollmentToken(test.context, {}, ADMIN);
    expect(created.expiresAt).toEqual(new Date(test.clock.now().getTime() + 3_600_000));
    const claims = await verifyEnrollmentToken(created.token, { keys: [test.signingKey], now: test.clock.now() });
    expect(claims.jti).toBe(created.jti);
  });

  it('binds the token to a host name', async () => {
    const created = await createEnrollmentToken(test.context, { host: 'web1' }, ADMIN);
    const claims = await verifyEnrollmentToken(created.token, { keys: [test.signingKey], now: test.clock.now() });
    expect(claims.hostName).toBe('web1');
  });

  it('takes a lifetime like 15m', async () => {
    const created = await createEnrollmentToken(test.context, { ttl: '15m' }, ADMIN);
    expect(created.expiresAt).toEqual(new Date(test.clock.now().getTime() + 900_000));
  });

  it('refuses a lifetime beyond seven days', async () => {
    expect(await codeOfAsync(() => createEnrollmentToken(test.context, { ttl: '8d' }, ADMIN))).toBe('INVALID_DURATION');
  });

  it('refuses a reserved host name', async () => {
    expect(await codeOfAsync(() => createEnrollmentToken(test.context, { host: 'root' }, ADMIN))).toBe('INVALID_HOST_NAME');
  });

  it('refuses a quota under 10M', async () => {
    expect(await codeOfAsync(() => createEnrollmentToken(test.context, { quota: '1M' }, ADMIN))).toBe('INVALID_QUOTA');
  });

  it('refuses an allowFrom that is not a range', async () => {
    expect(await codeOfAsync(() => createEnrollmentToken(test.context, { allowFrom: 'anywhere' }, ADMIN))).toBe('INVALID_CIDR');
  });

  it('refuses auto-approval for a token without a host name', async () => {
    expect(await codeOfAsync(() => createEnrollmentToken(test.context, { autoApprove: true }, ADMIN))).toBe('BAD_REQUEST');
  });

  it('records the hash and jti with the policy, never the token', async () => {
    const created = await createEnrollmentToken(
      test.context,
      { host: 'web1', quota: '500G', allowFrom: '192.0.2.7/24', appendOnly: false },
      ADMIN,
    );
    const row = test.context.db.select().from(enrollmentTokens).get();
    expect(row).toMatchObject({
      jti: created.jti,
      tokenHash: hashToken(created.token),
      hostName: 'web1',
      quotaBytes: 500e9,
      allowFrom: '192.0.2.0/24',
      appendOnly: false,
      status: 'issued',
      createdBy: 'admin:test',
    });
    expect(JSON.stringify(row)).not.toContain(created.token);
  });

  it('records the minting in the audit log without the token', async () => {
    const created = await createEnrollmentToken(test.context, { host: 'web1' }, ADMIN);
    const entries = test.context.db.select().from(auditLog).all();
    expect(entries).toMatchObject([{ actor: 'admin:test', action: 'token.create', target: created.jti, sourceAddress: '192.0.2.1' }]);
    expect(JSON.stringify(entries)).not.toContain(created.token);
  });

  it('returns the curl command for the VM, pinned to the TLS key', async () => {
    const created = await createEnrollmentToken(test.context, {}, ADMIN);
    const pin = TEST_TLS_IDENTITY.pin;
    expect(created.command).toBe(
      `enroll=$(curl -k --pinnedpubkey '${pin}' -fsS https://backup.example.test:8443/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${created.token}' sh -s -- --pin '${pin}'`,
    );
  });
});

describe('enrollCommand', () => {
  it('downloads the whole script before sh runs it, and passes the token in the environment', () => {
    expect(enrollCommand('http://b.example.test', 'T', null)).toBe(
      `enroll=$(curl -fsS http://b.example.test/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='T' sh -s --`,
    );
  });

  it('is one line', () => {
    expect(enrollCommand('https://b.example.test', 'T', { pin: 'sha256//P=', isSelfSigned: true })).not.toMatch(/[\n\r]/);
  });

  it('pins the key of a certificate from a CA without -k', () => {
    expect(enrollCommand('https://b.example.test', 'T', { pin: 'sha256//P=', isSelfSigned: false })).toBe(
      `enroll=$(curl --pinnedpubkey 'sha256//P=' -fsS https://b.example.test/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='T' sh -s -- --pin 'sha256//P='`,
    );
  });

  it('pins the key of a self-signed certificate with -k', () => {
    expect(enrollCommand('https://b.example.test', 'T', { pin: 'sha256//P=', isSelfSigned: true })).toBe(
      `enroll=$(curl -k --pinnedpubkey 'sha256//P=' -fsS https://b.example.test/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='T' sh -s -- --pin 'sha256//P='`,
    );
  });
});

describe('listEnrollmentTokens', () => {
  it('lists a token past its expiry as expired', async () => {
    await createEnrollmentToken(test.context, { ttl: 60 }, ADMIN);
    test.clock.advance(61_000);
    expect(listEnrollmentTokens(test.context).map((token) => token.status)).toEqual(['expired']);
  });

  it('never lists the token itself', async () => {
    const created = await createEnrollmentToken(test.context, {}, ADMIN);
    expect(JSON.stringify(listEnrollmentTokens(test.context))).not.toContain(created.token);
  });
});

describe('revokeEnrollmentToken', () => {
  it('marks an issued token revoked', async () => {
    const created = await createEnrollmentToken(test.context, {}, ADMIN);
    revokeEnrollmentToken(test.context, created.jti, ADMIN);
    expect(listEnrollmentTokens(test.context)[0]?.status).toBe('revoked');
  });

  it('refuses an unknown jti', async () => {
    expect(await codeOfAsync(() => revokeEnrollmentToken(test.context, 'nope', ADMIN))).toBe('NOT_FOUND');
  });

  it('refuses a token that was already used', async () => {
    const created = await createEnrollmentToken(test.context, {}, ADMIN);
    test.context.db.update(enrollmentTokens).set({ status: 'consumed' }).run();
    expect(await codeOfAsync(() => revokeEnrollmentToken(test.context, created.jti, ADMIN))).toBe('TOKEN_USED');
  });

  it('audits a revocation once', async () => {
    const created = await createEnrollmentToken(test.context, {}, ADMIN);
    revokeEnrollmentToken(test.context, created.jti, ADMIN);
    revokeEnrollmentToken(test.context, created.jti, ADMIN);
    const actions = test.context.db
      .select()
      .from(auditLog)
      .all()
      .map((entry) => entry.action);
    expect(actions).toEqual(['token.create', 'token.revoke']);
  });
});
