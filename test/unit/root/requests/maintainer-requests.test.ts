import { describe, expect, it } from 'vitest';
import type { MaintainerChange } from '../../../../src/channel/maintainer-change.js';
import { openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { parseSshPublicKey } from '../../../../src/domain/ssh-public-key.js';
import { changeHost } from '../../../../src/root/requests/host-requests.js';
import { changeMaintainer, readMaintainer } from '../../../../src/root/requests/maintainer-requests.js';
import { codeOf } from '../../../support/error-codes.js';
import { TEST_HOST_KEY } from '../../../support/host-rows.js';
import { insertHostRow } from '../../../support/reconcile-sandbox.js';

/**
 * Root's side of a change of a maintainer: whatever the API sends, root
 * checks it against its own state (live hosts, keys it holds) and the rules
 * an admin's change is checked by.
 */

const NOW = new Date('2026-12-01T12:00:00.000Z');
const options = { now: NOW };
const MAINTAINER_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

const add = (name = 'trusted', fields: Partial<Extract<MaintainerChange, { action: 'add' }>> = {}): MaintainerChange => ({
  action: 'add',
  name,
  keyType: 'ssh-ed25519',
  keyBase64: MAINTAINER_KEY,
  allowFrom: '192.0.2.10',
  ...fields,
});

function rootWithHosts(...names: string[]) {
  const db = openMemoryRootDatabase();
  names.forEach((name, index) => {
    insertHostRow(db, name, 20_000 + index, NOW, {
      fingerprint: parseSshPublicKey(`ssh-ed25519 ${TEST_HOST_KEY}`).fingerprint,
    });
  });
  return db;
}

describe("root's checks of a change of a maintainer", () => {
  it('registers a key with its own fingerprint and a canonical range, granted nothing yet', () => {
    const db = rootWithHosts();
    const answer = changeMaintainer(db, add('trusted', { allowFrom: '192.0.2.0/24, 2001:db8::1' }), options);
    expect(answer.previous).toBeNull();
    expect(answer.maintainer).toMatchObject({
      name: 'trusted',
      fingerprint: parseSshPublicKey(`ssh-ed25519 ${MAINTAINER_KEY}`).fingerprint,
      allowFrom: '192.0.2.0/24,2001:db8::1',
      isGrantedAllHosts: false,
      hosts: [],
    });
  });

  it('refuses a bad name, a bad key and a missing or bad range', () => {
    const db = rootWithHosts();
    expect(codeOf(() => changeMaintainer(db, add('Bad Name'), options))).toBe('BAD_REQUEST');
    expect(codeOf(() => changeMaintainer(db, add('trusted', { keyBase64: 'AAAA' }), options))).toBe('INVALID_PUBLIC_KEY');
    expect(codeOf(() => changeMaintainer(db, add('trusted', { allowFrom: '' }), options))).toBe('INVALID_CIDR');
    expect(codeOf(() => changeMaintainer(db, add('trusted', { allowFrom: '0.0.0.0/0"' }), options))).toBe('INVALID_CIDR');
    expect(readMaintainer(db, 'trusted')).toBeNull();
  });

  it("refuses a host's own key (its line would come second, and lift the host's append-only) and another maintainer's", () => {
    const db = rootWithHosts('web1');
    expect(codeOf(() => changeMaintainer(db, add('trusted', { keyBase64: TEST_HOST_KEY }), options))).toBe('BAD_REQUEST');
    changeMaintainer(db, add('trusted'), options);
    expect(codeOf(() => changeMaintainer(db, add('second'), options))).toBe('BAD_REQUEST');
    // The same maintainer again: its key and range are replaced.
    const again = changeMaintainer(db, add('trusted', { allowFrom: '192.0.2.11' }), options);
    expect(again.maintainer?.allowFrom).toBe('192.0.2.11');
  });

  it('grants live hosts only, and takes grants back', () => {
    const db = rootWithHosts('web1', 'web2');
    changeMaintainer(db, add(), options);
    expect(codeOf(() => changeMaintainer(db, { action: 'grant', name: 'trusted', hosts: ['nohost'], all: false }, options))).toBe(
      'NOT_FOUND',
    );
    expect(codeOf(() => changeMaintainer(db, { action: 'grant', name: 'trusted', hosts: [], all: false }, options))).toBe('BAD_REQUEST');
    const granted = changeMaintainer(db, { action: 'grant', name: 'trusted', hosts: ['web2', 'web1', 'web1'], all: false }, options);
    expect(granted.maintainer?.hosts).toEqual(['web1', 'web2']);
    const revoked = changeMaintainer(db, { action: 'revoke', name: 'trusted', hosts: ['web1'], all: false }, options);
    expect(revoked.maintainer?.hosts).toEqual(['web2']);
    const everyHost = changeMaintainer(db, { action: 'grant', name: 'trusted', hosts: [], all: true }, options);
    expect(everyHost.maintainer?.isGrantedAllHosts).toBe(true);
    const notAll = changeMaintainer(db, { action: 'revoke', name: 'trusted', hosts: [], all: true }, options);
    expect(notAll.maintainer).toMatchObject({ isGrantedAllHosts: false, hosts: ['web2'] });
  });

  it('refuses a change of a maintainer it does not know', () => {
    const db = rootWithHosts('web1');
    expect(codeOf(() => changeMaintainer(db, { action: 'grant', name: 'ghost', hosts: ['web1'], all: false }, options))).toBe('NOT_FOUND');
    expect(codeOf(() => changeMaintainer(db, { action: 'remove', name: 'ghost' }, options))).toBe('NOT_FOUND');
  });

  it('removes a maintainer with its grants', () => {
    const db = rootWithHosts('web1');
    changeMaintainer(db, add(), options);
    changeMaintainer(db, { action: 'grant', name: 'trusted', hosts: ['web1'], all: false }, options);
    const removed = changeMaintainer(db, { action: 'remove', name: 'trusted' }, options);
    expect(removed).toMatchObject({ maintainer: null, previous: { name: 'trusted', hosts: ['web1'] } });
    changeMaintainer(db, add(), options);
    expect(readMaintainer(db, 'trusted')?.hosts).toEqual([]);
  });

  it("drops a deleted host's grants: a host enrolled again under the name is not reached", () => {
    const db = rootWithHosts('web1');
    changeMaintainer(db, add(), options);
    changeMaintainer(db, { action: 'grant', name: 'trusted', hosts: ['web1'], all: false }, options);
    changeHost(db, { action: 'delete', name: 'web1', purge: false }, options);
    expect(readMaintainer(db, 'trusted')?.hosts).toEqual([]);
  });

  it("refuses a maintainer's key as a host's own", () => {
    const db = rootWithHosts();
    changeMaintainer(db, add(), options);
    const putKey = {
      action: 'put-key' as const,
      name: 'web9',
      keyType: 'ssh-ed25519',
      keyBase64: MAINTAINER_KEY,
      appendOnly: true,
      quotaBytes: null,
      allowFrom: null,
      origin: 'createuser' as const,
      enrollmentId: null,
    };
    expect(codeOf(() => changeHost(db, putKey, options))).toBe('BAD_REQUEST');
  });
});
