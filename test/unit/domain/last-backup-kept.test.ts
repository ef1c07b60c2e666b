import { describe, expect, it } from 'vitest';
import { lastBackupKept } from '../../../src/domain/last-backup-kept.js';

const at = (hour: number) => new Date(Date.UTC(2026, 10, 27, hour));
const commit = (id: number, hour: number) => ({ id, committedAt: new Date(at(hour).getTime() - 1000) });
const backup = (lastCommitAfter: number, hour: number) => ({ lastCommitAfter, endedAt: at(hour) });

describe('lastBackupKept', () => {
  it('is the newest backup whose commit the rolled-back repository still holds', () => {
    const backups = [backup(3, 2), backup(5, 4), backup(8, 6)];
    expect(lastBackupKept(backups, [commit(1, 1), commit(3, 2), commit(5, 4)], at(6))).toEqual(at(4));
  });

  it('is null when no backup is held, the one before the restore included', () => {
    expect(lastBackupKept([backup(5, 4)], [commit(1, 1)], at(4))).toBeNull();
  });

  it('does not count a rolled-back backup whose transaction id a later commit took again', () => {
    // Backup 6 (02:00) rolled back to 5; a delete after the restore committed as 6 again at 03:00.
    expect(lastBackupKept([backup(5, 1), backup(6, 2)], [commit(5, 1), commit(6, 3)], at(2))).toEqual(at(1));
  });

  it('keeps a last backup with no session on record (an imported host) while a commit made after it is kept', () => {
    expect(lastBackupKept([], [commit(1, 1), commit(3, 5)], at(4))).toEqual(at(4));
    expect(lastBackupKept([], [commit(1, 1)], at(4))).toBeNull();
    expect(lastBackupKept([], [], null)).toBeNull();
  });
});
