import { describe, expect, it } from 'vitest';
import type { HostChange } from '../../../../src/channel/host-change.js';
import { openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { findHost } from '../../../../src/host-records/hosts-store.js';
import { changeHost } from '../../../../src/root/requests/host-requests.js';
import { codeOf } from '../../../support/error-codes.js';
import { TEST_HOST_KEY } from '../../../support/host-rows.js';
import { reportsOf } from '../../../support/root-reports.js';

/**
 * Root's side of a change of a host: whatever the API sends, root checks it
 * against its own state and the rules an admin's change is checked by.
 */

const NOW = new Date('2026-12-01T12:00:00.000Z');
const options = { now: NOW };

function putKey(name: string, fields: Partial<Extract<HostChange, { action: 'put-key' }>> = {}): HostChange {
  return {
    action: 'put-key',
    name,
    keyType: 'ssh-ed25519',
    keyBase64: TEST_HOST_KEY,
    appendOnly: true,
    quotaBytes: null,
    allowFrom: null,
    origin: 'enrollment',
    enrollmentId: null,
    ...fields,
  };
}

describe("root's checks of a change of a host", () => {
  it('makes a new host with the UID the API proposed when it is free, its own fingerprint, and reports it', () => {
    const db = openMemoryRootDatabase();
    const answer = changeHost(db, putKey('web1', { uidHint: 20_123 }), options);
    expect(answer.previous).toBeNull();
    expect(answer.row).toMatchObject({ name: 'web1', uid: 20_123, status: 'active', pingUrl: null });
    expect(answer.row?.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(reportsOf(db)).toEqual([{ kind: 'host', name: 'web1', row: answer.row }]);
  });

  it("chooses a UID of its own when the API's is root's, a system account's or another host's", () => {
    const db = openMemoryRootDatabase();
    const first = changeHost(db, putKey('web1', { uidHint: 20_000 }), options).row;
    for (const [name, uidHint] of [
      ['web2', 0],
      ['web3', 100],
      ['web4', 20_000],
      ['web5', 65_534],
    ] as const) {
      const uid = changeHost(db, putKey(name, { uidHint }), options).row?.uid;
      expect(uid).toBeGreaterThanOrEqual(20_000);
      expect(uid).not.toBe(first?.uid);
    }
  });

  it('keeps the UID of a host it already serves when the API names another', () => {
    const db = openMemoryRootDatabase();
    changeHost(db, putKey('web1', { uidHint: 20_001 }), options);
    expect(changeHost(db, putKey('web1', { uidHint: 20_999 }), options).row?.uid).toBe(20_001);
  });

  it('refuses a key it cannot parse, an invalid name, a quota borg refuses and a bad source range, and writes nothing', () => {
    const db = openMemoryRootDatabase();
    expect(codeOf(() => changeHost(db, putKey('web1', { keyBase64: 'AAAA' }), options))).toBe('INVALID_PUBLIC_KEY');
    expect(codeOf(() => changeHost(db, putKey('../etc'), options))).toBe('INVALID_HOST_NAME');
    expect(codeOf(() => changeHost(db, putKey('web1', { quotaBytes: 5 }), options))).toBe('INVALID_QUOTA');
    expect(codeOf(() => changeHost(db, putKey('web1', { allowFrom: 'everywhere' }), options))).toBe('INVALID_CIDR');
    expect(findHost(db, 'web1')).toBeUndefined();
    expect(reportsOf(db)).toEqual([]);
  });

  it('changes only a live host, and only the fields asked for', () => {
    const db = openMemoryRootDatabase();
    expect(codeOf(() => changeHost(db, { action: 'set', name: 'ghost', fields: { status: 'active' } }, options))).toBe('NOT_FOUND');
    changeHost(db, putKey('web1', { quotaBytes: 50_000_000 }), options);
    const answer = changeHost(db, { action: 'set', name: 'web1', fields: { maxSessions: 3 } }, options);
    expect(answer.row).toMatchObject({ maxSessions: 3, quotaBytes: 50_000_000, status: 'active' });
  });

  it('bounds a full-access window as an admin is bounded, and ends it when the host is disabled', () => {
    const db = openMemoryRootDatabase();
    changeHost(db, putKey('web1'), options);
    const eightDays = NOW.getTime() + 8 * 86_400_000;
    expect(codeOf(() => changeHost(db, { action: 'set', name: 'web1', fields: { fullAccessUntil: eightDays } }, options))).toBe(
      'INVALID_DURATION',
    );
    const inAnHour = NOW.getTime() + 3_600_000;
    expect(changeHost(db, { action: 'set', name: 'web1', fields: { fullAccessUntil: inAnHour } }, options).row?.fullAccessUntil).toBe(
      inAnHour,
    );
    expect(changeHost(db, { action: 'set', name: 'web1', fields: { status: 'disabled' } }, options).row).toMatchObject({
      status: 'disabled',
      fullAccessUntil: null,
    });
  });

  it('never revives a host being purged, and purges a host only once', () => {
    const db = openMemoryRootDatabase();
    changeHost(db, putKey('web1'), options);
    expect(changeHost(db, { action: 'delete', name: 'web1', purge: true }, options).row?.status).toBe('purging');
    expect(codeOf(() => changeHost(db, putKey('web1'), options))).toBe('HOST_NAME_TAKEN');
    expect(codeOf(() => changeHost(db, { action: 'set', name: 'web1', fields: { status: 'active' } }, options))).toBe('NOT_FOUND');
    expect(codeOf(() => changeHost(db, { action: 'delete', name: 'web1', purge: true }, options))).toBe('NOT_FOUND');
  });

  it('keeps a host an admin disabled disabled when it gets a new key', () => {
    const db = openMemoryRootDatabase();
    changeHost(db, putKey('web1'), options);
    changeHost(db, { action: 'set', name: 'web1', fields: { status: 'disabled' } }, options);
    expect(changeHost(db, putKey('web1'), options).row?.status).toBe('disabled');
  });
});
