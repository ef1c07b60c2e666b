import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configHistoryDir, recordConfigVersion } from '../../../../src/root/restore/config-history.js';

/** Root only: the kept versions are root's files. */
const isRoot = process.getuid?.() === 0;
const CONFIG = '[repository]\nversion = 1\nsegments_per_dir = 1000\nid = 2c54bc66\nkey = original\n';
let backupDir: string;

beforeEach(() => {
  backupDir = mkdtempSync(join(tmpdir(), 'sbs-config-history-'));
  mkdirSync(join(backupDir, 'web1', 'repo'), { recursive: true });
  writeFileSync(join(backupDir, 'web1', 'repo', 'config'), CONFIG);
  recordConfigVersion(backupDir, 'web1', new Date('2026-11-27T01:00:00.000Z'));
});

afterEach(() => rmSync(backupDir, { recursive: true, force: true }));

describe.runIf(isRoot)('the kept versions of a repository config', () => {
  it("keep no new version for the progress line of the server's own partial check", () => {
    writeFileSync(join(backupDir, 'web1', 'repo', 'config'), CONFIG.replace('id =', 'last_segment_checked = 812\nid ='));
    expect(recordConfigVersion(backupDir, 'web1', new Date('2026-11-27T02:00:00.000Z'))).toBe(false);
    writeFileSync(join(backupDir, 'web1', 'repo', 'config'), CONFIG);
    expect(recordConfigVersion(backupDir, 'web1', new Date('2026-11-27T03:00:00.000Z'))).toBe(false);
    expect(readdirSync(configHistoryDir(backupDir, 'web1'))).toHaveLength(1);
  });

  it('keep a new version when the key changes beside that line', () => {
    writeFileSync(join(backupDir, 'web1', 'repo', 'config'), `${CONFIG.replace('original', 'replaced')}last_segment_checked = 3\n`);
    expect(recordConfigVersion(backupDir, 'web1', new Date('2026-11-27T02:00:00.000Z'))).toBe(true);
  });
});
