import { describe, expect, it } from 'vitest';
import { applyRootReports } from '../../../src/api/root-reports.js';
import { toHostRowMessage } from '../../../src/channel/host-row.js';
import type { NumberedRootReport } from '../../../src/channel/root-reports.js';
import { openMemoryDatabase } from '../../../src/db/connection.js';
import { auditLog, hostSessions, hosts } from '../../../src/db/schema.js';
import { findBackupState } from '../../../src/host-records/backup-state.js';
import { findHost } from '../../../src/host-records/hosts-store.js';
import { backupReport } from '../../support/ended-sessions.js';
import { addHostRow } from '../../support/host-rows.js';

/** The API applies root's reports to its own database once each, in order. */

const NOW = new Date('2026-12-01T12:00:00.000Z');

const audit = (id: number, action: string): NumberedRootReport => ({
  id,
  report: { kind: 'audit', at: NOW.getTime(), entry: { actor: 'server', action, target: 'web1', details: {} } },
});

const session = (id: number): NumberedRootReport => backupReport(id, 'web1', NOW.getTime(), { repositoryBytes: 9000 });

describe("the API's side of root's reports", () => {
  it('applies each report once, even when root sends a batch again', () => {
    const db = openMemoryDatabase();
    addHostRow(db, 'web1', NOW);
    const batch = [audit(1, 'host.quota.disable'), session(2)];
    expect(applyRootReports(db, batch)).toBe(2);
    expect(applyRootReports(db, [...batch, audit(3, 'host.let-in')])).toBe(3);
    expect(db.select({ action: auditLog.action }).from(auditLog).all()).toEqual([
      { action: 'host.quota.disable' },
      { action: 'host.let-in' },
    ]);
    expect(db.select().from(hostSessions).all()).toHaveLength(1);
  });

  it("takes root's row for a host, keeping the API's own ping URL, and forgets a purged host", () => {
    const db = openMemoryDatabase();
    const row = addHostRow(db, 'web1', NOW);
    db.update(hosts).set({ pingUrl: 'https://hc-ping.example.test/secret' }).run();
    const disabled = toHostRowMessage({ ...row, status: 'disabled', pingUrl: null });
    applyRootReports(db, [{ id: 1, report: { kind: 'host', name: 'web1', row: disabled } }]);
    expect(findHost(db, 'web1')).toMatchObject({ status: 'disabled', pingUrl: 'https://hc-ping.example.test/secret' });
    applyRootReports(db, [{ id: 2, report: { kind: 'host', name: 'web1', row: null } }]);
    expect(findHost(db, 'web1')).toBeUndefined();
  });

  it("takes a host's last backup as root worked it out after a restore, replacing the rolled-back one", () => {
    const db = openMemoryDatabase();
    addHostRow(db, 'web1', NOW);
    applyRootReports(db, [session(1)]);
    expect(findBackupState(db, 'web1')?.lastBackupAt).toEqual(NOW);
    const earlier = NOW.getTime() - 86_400_000;
    applyRootReports(db, [{ id: 2, report: { kind: 'last-backup', at: NOW.getTime(), hostName: 'web1', lastBackupAt: earlier } }]);
    expect(findBackupState(db, 'web1')).toMatchObject({ lastBackupAt: new Date(earlier), repositoryBytes: 9000 });
    applyRootReports(db, [{ id: 3, report: { kind: 'last-backup', at: NOW.getTime(), hostName: 'web1', lastBackupAt: null } }]);
    expect(findBackupState(db, 'web1')?.lastBackupAt).toBeNull();
  });
});
