import { beforeEach, describe, expect, it } from 'vitest';
import { listAudit, recordAudit } from '../../../../src/api/audit/audit-log.js';
import { openMemoryDatabase } from '../../../../src/db/connection.js';

const NOW = new Date('2026-03-02T10:00:00Z');
let db: ReturnType<typeof openMemoryDatabase>;

beforeEach(() => {
  db = openMemoryDatabase();
});

function record(count: number) {
  for (let index = 0; index < count; index += 1) {
    recordAudit(db, new Date(NOW.getTime() + index), { actor: 'admin:x', action: `action.${index}` });
  }
}

describe('recordAudit', () => {
  it('stores who, what, when, from where and the details', () => {
    recordAudit(db, NOW, { actor: 'admin:abc', action: 'host.update', target: 'web1', sourceAddress: '192.0.2.1', details: { quota: 1 } });
    expect(listAudit(db, { limit: 10 })).toEqual([
      { id: 1, at: NOW, actor: 'admin:abc', action: 'host.update', target: 'web1', sourceAddress: '192.0.2.1', details: { quota: 1 } },
    ]);
  });

  it('stores null for what was not given', () => {
    recordAudit(db, NOW, { actor: 'cli', action: 'x' });
    expect(listAudit(db, { limit: 1 })[0]).toMatchObject({ target: null, sourceAddress: null, details: null });
  });
});

describe('listAudit', () => {
  it('lists the newest entries first', () => {
    record(3);
    expect(listAudit(db, { limit: 10 }).map((entry) => entry.action)).toEqual(['action.2', 'action.1', 'action.0']);
  });

  it('stops at the limit', () => {
    record(5);
    expect(listAudit(db, { limit: 2 }).map((entry) => entry.id)).toEqual([5, 4]);
  });

  it('pages with beforeId', () => {
    record(5);
    expect(listAudit(db, { limit: 2, beforeId: 4 }).map((entry) => entry.id)).toEqual([3, 2]);
  });
});
