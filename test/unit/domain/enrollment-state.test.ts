import { describe, expect, it } from 'vitest';
import { type EnrollmentStatus, effectiveStatus, nextStatus, PENDING_ENROLLMENT_TTL_MS } from '../../../src/domain/enrollment-state.js';
import { codeOf } from '../../support/error-codes.js';

const created = new Date('2026-03-02T10:00:00Z');
const expiresAt = new Date(created.getTime() + PENDING_ENROLLMENT_TTL_MS);

describe('nextStatus', () => {
  it('moves pending to approved on approve', () => {
    expect(nextStatus('pending', 'approve')).toBe('approved');
  });

  it('moves pending to denied on deny', () => {
    expect(nextStatus('pending', 'deny')).toBe('denied');
  });

  it.each<[EnrollmentStatus, 'approve' | 'deny']>([
    ['approved', 'approve'],
    ['approved', 'deny'],
    ['denied', 'approve'],
    ['denied', 'deny'],
    ['expired', 'approve'],
    ['expired', 'deny'],
  ])('refuses to move %s on %s', (current, decision) => {
    expect(codeOf(() => nextStatus(current, decision))).toBe('ENROLLMENT_NOT_PENDING');
  });
});

describe('effectiveStatus', () => {
  it('keeps a pending enrollment pending before it lapses', () => {
    expect(effectiveStatus({ status: 'pending', expiresAt }, new Date(expiresAt.getTime() - 1))).toBe('pending');
  });

  it('expires a pending enrollment at its expiry time', () => {
    expect(effectiveStatus({ status: 'pending', expiresAt }, expiresAt)).toBe('expired');
  });

  it('lets a pending request wait seven days', () => {
    expect(PENDING_ENROLLMENT_TTL_MS).toBe(7 * 24 * 3600 * 1000);
  });

  it.each<EnrollmentStatus>(['approved', 'denied'])('keeps a decided (%s) enrollment as it is after the expiry time', (status) => {
    expect(effectiveStatus({ status, expiresAt }, new Date(expiresAt.getTime() + 86_400_000))).toBe(status);
  });
});
