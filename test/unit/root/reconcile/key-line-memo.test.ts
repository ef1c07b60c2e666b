import { describe, expect, it } from 'vitest';
import { type KeyLineHost, renderAuthorizedKeysLine } from '../../../../src/domain/authorized-keys.js';
import { createKeyLineMemo } from '../../../../src/root/reconcile/key-line-memo.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIBrHwmNDEGs4Ckn6cZHWXKx7Pwx4xYTApDbSTD56D9mK';
const host: KeyLineHost = { name: 'alpha', keyType: 'ssh-ed25519', keyBase64: KEY, appendOnly: true, quotaBytes: null, allowFrom: null };

describe('createKeyLineMemo', () => {
  it('gives what renderAuthorizedKeysLine gives, for the same values and after they change', () => {
    const memo = createKeyLineMemo();
    expect(memo.render(host, '/backups')).toBe(renderAuthorizedKeysLine(host, '/backups'));
    const changed = { ...host, allowFrom: '192.0.2.0/24' };
    expect(memo.render(changed, '/backups')).toBe(renderAuthorizedKeysLine(changed, '/backups'));
    expect(memo.render(changed, '/srv/backups')).toBe(renderAuthorizedKeysLine(changed, '/srv/backups'));
  });

  it('throws again for values that could not be rendered, and renders them once they are valid', () => {
    const memo = createKeyLineMemo();
    const bad = { ...host, keyBase64: 'not base64!' };
    expect(() => memo.render(bad, '/backups')).toThrow();
    expect(() => memo.render(bad, '/backups')).toThrow();
    expect(memo.render(host, '/backups')).toBe(renderAuthorizedKeysLine(host, '/backups'));
  });

  it('tells a value from the same text of another type (a row may hold anything)', () => {
    const memo = createKeyLineMemo();
    memo.render({ ...host, quotaBytes: null }, '/backups');
    const odd = { ...host, quotaBytes: 'null' as unknown as number };
    expect(() => memo.render(odd, '/backups')).toThrow();
  });

  it('renders with and without --append-only apart', () => {
    const memo = createKeyLineMemo();
    expect(memo.render(host, '/backups')).toContain('--append-only');
    expect(memo.render({ ...host, appendOnly: false }, '/backups')).not.toContain('--append-only');
    memo.endPass();
    expect(memo.render(host, '/backups')).toContain('--append-only');
  });
});
