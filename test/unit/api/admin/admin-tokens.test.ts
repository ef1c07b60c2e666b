import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminToken, listAdminTokens, revokeAdminToken, verifyAdminToken } from '../../../../src/api/admin/admin-tokens.js';
import { openMemoryDatabase } from '../../../../src/db/connection.js';
import { adminTokens, auditLog } from '../../../../src/db/schema.js';
import { codeOf } from '../../../support/error-codes.js';

const compared = vi.hoisted(() => ({ calls: 0 }));

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (left: NodeJS.ArrayBufferView, right: NodeJS.ArrayBufferView) => {
      compared.calls += 1;
      return actual.timingSafeEqual(left, right);
    },
  };
});

const NOW = new Date('2026-03-02T10:00:00Z');
let db: ReturnType<typeof openMemoryDatabase>;

beforeEach(() => {
  db = openMemoryDatabase();
  compared.calls = 0;
});

afterEach(() => {
  db.$client.close();
});

describe('createAdminToken', () => {
  it('returns a token bsa_<id>_<secret>', () => {
    const created = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    expect(created.token).toMatch(/^bsa_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.token.startsWith(`bsa_${created.id}_`)).toBe(true);
  });

  it('stores the SHA-256 of the secret, never the secret', () => {
    const { token, id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    const secret = token.slice(`bsa_${id}_`.length);
    const row = db.select().from(adminTokens).get();
    expect(row?.secretHash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('records the creation in the audit log without the secret', () => {
    const { token, id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    const entries = db.select().from(auditLog).all();
    expect(entries).toMatchObject([{ actor: 'cli', action: 'admin-token.create', target: id }]);
    expect(JSON.stringify(entries)).not.toContain(token.split('_').slice(2).join('_'));
  });

  it('records the role and the expiry in the audit log', () => {
    const expiresAt = new Date(NOW.getTime() + 3600_000);
    createAdminToken(db, { label: 'ci', role: 'enroll', expiresAt }, NOW, 'cli');
    expect(db.select().from(auditLog).get()?.details).toEqual({ label: 'ci', role: 'enroll', expiresAt: expiresAt.toISOString() });
  });

  it.each(['', 'a'.repeat(65), 'line\nbreak', 'tab\there'])('refuses the label %j and writes nothing', (label) => {
    expect(codeOf(() => createAdminToken(db, { label, role: 'admin', expiresAt: null }, NOW, 'cli'))).toBe('BAD_REQUEST');
    expect(db.select().from(adminTokens).all()).toEqual([]);
    expect(db.select().from(auditLog).all()).toEqual([]);
  });

  it('makes a new token each time', () => {
    const first = createAdminToken(db, { label: 'a', role: 'admin', expiresAt: null }, NOW, 'cli');
    const second = createAdminToken(db, { label: 'b', role: 'admin', expiresAt: null }, NOW, 'cli');
    expect(second.id).not.toBe(first.id);
    expect(second.token).not.toBe(first.token);
  });
});

describe('verifyAdminToken', () => {
  it('returns the id, label and role for the right token', () => {
    const { token, id } = createAdminToken(db, { label: 'prometheus', role: 'metrics', expiresAt: null }, NOW, 'cli');
    expect(verifyAdminToken(db, token, NOW)).toEqual({ id, label: 'prometheus', role: 'metrics' });
  });

  it('accepts a token until the moment it expires, and refuses it from then on', () => {
    const expiresAt = new Date(NOW.getTime() + 90 * 86400_000);
    const { token } = createAdminToken(db, { label: 'ci', role: 'enroll', expiresAt }, NOW, 'cli');
    expect(verifyAdminToken(db, token, new Date(expiresAt.getTime() - 1))).not.toBeNull();
    expect(verifyAdminToken(db, token, expiresAt)).toBeNull();
  });

  it('records when the token was last used', () => {
    const { token } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    const later = new Date(NOW.getTime() + 60_000);
    verifyAdminToken(db, token, later);
    expect(listAdminTokens(db)[0]?.lastUsedAt).toEqual(later);
  });

  it('refuses a wrong secret for a known id', () => {
    const { id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    expect(verifyAdminToken(db, `bsa_${id}_${'A'.repeat(43)}`, NOW)).toBeNull();
  });

  it('refuses a token with one character of the secret changed', () => {
    const { token } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    const changed = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect(verifyAdminToken(db, changed, NOW)).toBeNull();
  });

  it('refuses an unknown id', () => {
    const { token } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    const secret = token.split('_').slice(2).join('_');
    expect(verifyAdminToken(db, `bsa_ZZZZZZZZZZZZ_${secret}`, NOW)).toBeNull();
  });

  it.each(['', 'Bearer', 'bsa_', 'bsa_short_secret', 'x'.repeat(10_000)])('refuses the malformed token %j', (presented) => {
    createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    expect(verifyAdminToken(db, presented, NOW)).toBeNull();
  });

  it('refuses a revoked token', () => {
    const { token, id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    revokeAdminToken(db, id, NOW, 'cli');
    expect(verifyAdminToken(db, token, NOW)).toBeNull();
  });

  it('compares in constant time for a wrong secret', () => {
    const { id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    verifyAdminToken(db, `bsa_${id}_${'A'.repeat(43)}`, NOW);
    expect(compared.calls).toBe(1);
  });

  it('compares in constant time for an unknown id too', () => {
    createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    verifyAdminToken(db, `bsa_ZZZZZZZZZZZZ_${'A'.repeat(43)}`, NOW);
    expect(compared.calls).toBe(1);
  });

  it('compares in constant time for the right token', () => {
    const { token } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    verifyAdminToken(db, token, NOW);
    expect(compared.calls).toBe(1);
  });
});

describe('revokeAdminToken', () => {
  it('records the revocation in the audit log', () => {
    const { id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    revokeAdminToken(db, id, NOW, 'cli');
    expect(
      db
        .select()
        .from(auditLog)
        .all()
        .map((entry) => entry.action),
    ).toEqual(['admin-token.create', 'admin-token.revoke']);
  });

  it('does nothing the second time', () => {
    const { id } = createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    revokeAdminToken(db, id, NOW, 'cli');
    revokeAdminToken(db, id, new Date(NOW.getTime() + 1000), 'cli');
    expect(listAdminTokens(db)[0]?.revokedAt).toEqual(NOW);
    expect(db.select().from(auditLog).all()).toHaveLength(2);
  });

  it('refuses an unknown id', () => {
    expect(codeOf(() => revokeAdminToken(db, 'nope', NOW, 'cli'))).toBe('NOT_FOUND');
  });
});

describe('listAdminTokens', () => {
  it('lists tokens without their hashes', () => {
    createAdminToken(db, { label: 'laptop', role: 'admin', expiresAt: null }, NOW, 'cli');
    const [listed] = listAdminTokens(db);
    expect(listed).toEqual({
      id: expect.any(String),
      label: 'laptop',
      role: 'admin',
      createdAt: NOW,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    });
  });
});
