import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../src/db/connection.js';
import { openMemoryDatabase } from '../../../src/db/connection.js';
import { hosts } from '../../../src/db/schema.js';
import type { AppError } from '../../../src/errors.js';
import {
  allocateUid,
  findHeldNames,
  findHost,
  findLiveHost,
  HOST_UID_MAX,
  HOST_UID_MIN,
  type HostKeyAndPolicy,
  upsertHost,
} from '../../../src/host-records/hosts-store.js';

const NOW = new Date('2026-03-02T10:00:00Z');
let db: Db;

beforeEach(() => {
  db = openMemoryDatabase();
});

function hostNamed(name: string, changes: Partial<HostKeyAndPolicy> = {}): HostKeyAndPolicy {
  return {
    name,
    keyType: 'ssh-ed25519',
    keyBase64: `key-of-${name}`,
    fingerprint: `SHA256:${name}`,
    appendOnly: true,
    quotaBytes: null,
    allowFrom: null,
    origin: 'enrollment',
    enrollmentId: null,
    ...changes,
  };
}

function insertWithUid(name: string, uid: number) {
  upsertHost(db, hostNamed(name, { uid }), NOW);
}

describe('allocateUid', () => {
  it('starts at the bottom of the host range', () => {
    expect(allocateUid(db)).toBe(HOST_UID_MIN);
  });

  it('takes one past the highest UID', () => {
    insertWithUid('a', 20_005);
    expect(allocateUid(db)).toBe(20_006);
  });

  it('fills the lowest gap once the top of the range is taken', () => {
    insertWithUid('a', HOST_UID_MIN);
    insertWithUid('b', HOST_UID_MIN + 2);
    insertWithUid('c', HOST_UID_MAX);
    expect(allocateUid(db)).toBe(HOST_UID_MIN + 1);
  });

  describe('with processes still running', () => {
    let procDir: string;
    beforeEach(() => {
      procDir = mkdtempSync(join(tmpdir(), 'sbs-proc-'));
      mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
      symlinkSync('mnt:[4026531841]', join(procDir, 'self', 'ns', 'mnt'));
    });
    afterEach(() => rmSync(procDir, { recursive: true, force: true }));

    function runningProcess(pid: number, uid: number, state = 'S (sleeping)', namespace = 'mnt:[4026531841]'): void {
      mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
      writeFileSync(join(procDir, String(pid), 'status'), `Name:\tborg\nState:\t${state}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
      symlinkSync(namespace, join(procDir, String(pid), 'ns', 'mnt'));
    }

    it('does not give a new host the UID of a purged host whose session still runs', () => {
      insertWithUid('a', 20_000);
      // Host b (20001) was purged: its row is gone, its borg serve not yet.
      runningProcess(4242, 20_001);
      expect(allocateUid(db, procDir)).toBe(20_002);
    });

    it('skips a running UID when filling gaps too', () => {
      insertWithUid('a', HOST_UID_MIN);
      insertWithUid('c', HOST_UID_MAX);
      runningProcess(4242, HOST_UID_MIN + 1);
      expect(allocateUid(db, procDir)).toBe(HOST_UID_MIN + 2);
    });

    it('takes the UID again once only a zombie or another server’s process is left of it', () => {
      insertWithUid('a', 20_000);
      runningProcess(4242, 20_001, 'Z (zombie)');
      runningProcess(4243, 20_001, 'S (sleeping)', 'mnt:[4026530000]');
      expect(allocateUid(db, procDir)).toBe(20_001);
    });
  });

  it('refuses when every UID in the range is taken', () => {
    const insert = db.$client.prepare(
      "insert into hosts (name, uid, key_type, key_base64, fingerprint, append_only, status, origin, created_at, updated_at) values (?, ?, 'ssh-ed25519', 'k', 'f', 1, 'active', 'enrollment', 0, 0)",
    );
    db.$client.transaction(() => {
      for (let uid = HOST_UID_MIN; uid <= HOST_UID_MAX; uid += 1) insert.run(`h${uid}`, uid);
    })();
    let code: string | undefined;
    try {
      allocateUid(db);
    } catch (error) {
      code = (error as AppError).code;
    }
    expect(code).toBe('UID_RANGE_EXHAUSTED');
  });
});

describe('upsertHost', () => {
  it('creates an active host with a new UID', () => {
    expect(upsertHost(db, hostNamed('web1'), NOW)).toMatchObject({ name: 'web1', uid: HOST_UID_MIN, status: 'active' });
  });

  it('keeps the UID when it gives a host a new key', () => {
    const created = upsertHost(db, hostNamed('web1'), NOW);
    upsertHost(db, hostNamed('web2'), NOW);
    const rekeyed = upsertHost(db, hostNamed('web1', { keyBase64: 'new', fingerprint: 'SHA256:new' }), NOW);
    expect(rekeyed).toMatchObject({ uid: created.uid, keyBase64: 'new', fingerprint: 'SHA256:new' });
  });

  it('keeps a disabled host disabled when it gives it a new key', () => {
    upsertHost(db, hostNamed('web1'), NOW);
    db.update(hosts).set({ status: 'disabled' }).run();
    expect(upsertHost(db, hostNamed('web1', { keyBase64: 'new' }), NOW).status).toBe('disabled');
  });

  it('brings a deleted host back with its old UID', () => {
    const created = upsertHost(db, hostNamed('web1'), NOW);
    db.update(hosts).set({ status: 'deleted' }).run();
    expect(upsertHost(db, hostNamed('web1'), NOW)).toMatchObject({ uid: created.uid, status: 'active' });
  });
});

describe('findLiveHost', () => {
  it.each(['active', 'disabled'] as const)('finds a %s host', (status) => {
    upsertHost(db, hostNamed('web1'), NOW);
    db.update(hosts).set({ status }).run();
    expect(findLiveHost(db, 'web1')?.name).toBe('web1');
  });

  it.each(['deleted', 'purging'] as const)('does not find a %s host', (status) => {
    upsertHost(db, hostNamed('web1'), NOW);
    db.update(hosts).set({ status }).run();
    expect(findLiveHost(db, 'web1')).toBeUndefined();
    expect(findHost(db, 'web1')?.status).toBe(status);
  });
});

describe('findHeldNames', () => {
  it('answers as findNameHolder does: active, disabled and deleted hosts hold their names, purging ones and unknown names do not', () => {
    for (const [name, status] of [
      ['web1', 'active'],
      ['web2', 'disabled'],
      ['web3', 'deleted'],
      ['web4', 'purging'],
    ] as const) {
      upsertHost(db, hostNamed(name), NOW);
      db.update(hosts).set({ status }).where(eq(hosts.name, name)).run();
    }
    expect([...findHeldNames(db, ['web1', 'web2', 'web3', 'web4', 'web5', 'web1'])].sort()).toEqual(['web1', 'web2', 'web3']);
  });

  it('answers for more names than one query may ask about', () => {
    upsertHost(db, hostNamed('first'), NOW);
    upsertHost(db, hostNamed('last'), NOW);
    const names = ['first', ...Array.from({ length: 1500 }, (_, index) => `free-${index}`), 'last'];
    expect([...findHeldNames(db, names)].sort()).toEqual(['first', 'last']);
  });

  it('asks nothing for no names', () => {
    expect(findHeldNames(db, [])).toEqual(new Set());
  });
});
