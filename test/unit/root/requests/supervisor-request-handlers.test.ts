import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openMemoryDatabase } from '../../../../src/db/connection.js';
import { SHOWN_RESTORE_POINTS } from '../../../../src/domain/borg-transactions.js';
import { createRequestTable } from '../../../../src/root/requests/request-table.js';
import { answerRestorePoints, supervisorRequestDefinitions } from '../../../../src/root/requests/supervisor-request-handlers.js';
import { codeOf } from '../../../support/error-codes.js';
import { giveRepositoryToHost } from '../../../support/host-repository.js';
import { addHostRow } from '../../../support/host-rows.js';

/**
 * Root's answer to the API's "restore points of HOST": only the commits of a
 * live host's own repository, read as its owner. Root only (the repository is
 * given to a host UID). The host name was parsed by the request's schema.
 */

const isRoot = process.getuid?.() === 0;
const NOW = new Date('2026-11-28T00:00:00.000Z');
const LOG = 'transaction 1, UTC time 2026-11-27T02:00:00.000000\ntransaction 3, UTC time 2026-11-27T04:00:00.000000\n';

let base: string;
let backupDir: string;
let db: Db;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-restore-points-'));
  chmodSync(base, 0o711);
  backupDir = join(base, 'backups');
  mkdirSync(backupDir);
  db = openMemoryDatabase();
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

function hostWithLog(name: string): void {
  const host = addHostRow(db, name, NOW);
  mkdirSync(join(backupDir, name, 'repo'), { recursive: true });
  writeFileSync(join(backupDir, name, 'repo', 'transactions'), LOG);
  giveRepositoryToHost(backupDir, name, host.uid);
}

const ask = (host: string) => answerRestorePoints(host, db, backupDir);

describe.runIf(isRoot)('answerRestorePoints', () => {
  it("gives a live host's commits, ids and times only", () => {
    hostWithLog('web1');
    expect(ask('web1')).toEqual({
      points: [
        { id: 1, committedAt: '2026-11-27T02:00:00.000Z' },
        { id: 3, committedAt: '2026-11-27T04:00:00.000Z' },
      ],
      total: 2,
    });
  });

  it('gives only the newest commits of a long log, and how many there are', () => {
    const host = addHostRow(db, 'busy1', NOW);
    const lines = Array.from(
      { length: 1000 },
      (_, index) => `transaction ${index + 1}, UTC time 2026-11-27T02:00:00.${String(index).padStart(6, '0')}`,
    );
    mkdirSync(join(backupDir, 'busy1', 'repo'), { recursive: true });
    writeFileSync(join(backupDir, 'busy1', 'repo', 'transactions'), `${lines.join('\n')}\n`);
    giveRepositoryToHost(backupDir, 'busy1', host.uid);

    const reply = ask('busy1');
    expect(reply.total).toBe(1000);
    expect(reply.points.map((point) => point.id)).toEqual(Array.from({ length: SHOWN_RESTORE_POINTS }, (_, index) => 971 + index));
  });

  it('refuses an unknown host and a host without a repository with NOT_FOUND', () => {
    hostWithLog('web1');
    addHostRow(db, 'web2', NOW);
    expect(codeOf(() => ask('db9'))).toBe('NOT_FOUND');
    expect(codeOf(() => ask('web2'))).toBe('NOT_FOUND');
  });
});

describe("root's request definitions", () => {
  it('let the API ask reconcile, check and restore-points, and the CLI reconcile and check', () => {
    const definitions = supervisorRequestDefinitions({
      reconcileNow: async () => {},
      checks: { request: () => {}, checkNow: async () => ({}) as never },
      db: openMemoryDatabase(),
      backupDir: '/nonexistent',
      logger: pino({ level: 'silent' }),
    });
    const table = createRequestTable(definitions);
    expect(Object.fromEntries([...table].map(([type, definition]) => [type, definition.from]))).toEqual({
      reconcile: ['api', 'cli'],
      check: ['api', 'cli'],
      'restore-points': ['api'],
    });
  });
});
