import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFaultMonitor } from '../../src/api/monitoring/fault-monitor.js';
import { type Db, migrateDatabase, openDatabase } from '../../src/db/connection.js';
import { enroll, mintToken } from '../support/enrollment-flow.js';
import { useSshKeys } from '../support/fixture-hooks.js';
import { createTestAdminToken, makeTestApp, makeTestContext, type TestApp } from '../support/test-context.js';

/**
 * The API on a database file that another connection (as the root side
 * would) holds the write lock of for longer than the busy timeout.
 */

const keys = useSshKeys({ vm: 'ed25519' });

let directory: string;
let db: Db;
let other: Db;
let app: TestApp;
let adminToken: string;
let logged: unknown[];
let faultLines: { level: number; fault?: string; msg: string }[];

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-busy-'));
  db = openDatabase(join(directory, 'borg.db'));
  migrateDatabase(db);
  // The real 5 s would only make the test slow; what happens after it is the same.
  db.$client.pragma('busy_timeout = 50');
  other = openDatabase(join(directory, 'borg.db'));
  faultLines = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => faultLines.push(JSON.parse(line)) });
  const { context } = await makeTestContext({ db, faults: createFaultMonitor({ db, databaseDir: directory, logger }) });
  adminToken = createTestAdminToken(context);
  logged = [];
  app = makeTestApp(context, { logError: (error) => logged.push(error) });
});

afterEach(() => {
  if (other.$client.inTransaction) other.$client.exec('ROLLBACK');
  other.$client.close();
  db.$client.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('a database locked past the busy timeout', () => {
  it('answers 503 SERVER_BUSY with a JSON body, logs the fault once, and spends nothing: the same token works once the lock is gone', async () => {
    const token = await mintToken(app, adminToken, { host: 'web1' });
    other.$client.exec('BEGIN IMMEDIATE');

    const refused = await enroll(app, token, 'web1', keys.vm);
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({ error: 'SERVER_BUSY', message: expect.any(String) });
    expect(refused.headers.get('retry-after')).toBe('2');
    expect((await enroll(app, token, 'web1', keys.vm)).status).toBe(503);
    // A fault, not a bug: no stack in the log, one line for the episode however many requests it fails.
    expect(logged).toEqual([]);
    expect(faultLines).toEqual([expect.objectContaining({ fault: 'SERVER_BUSY', msg: expect.stringMatching(/^fault began: /) })]);
    const health = await app.request('/healthz');
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'unhealthy', reasons: [{ code: 'SERVER_BUSY', message: expect.any(String) }] });

    other.$client.exec('ROLLBACK');
    expect((await app.request('/healthz')).status).toBe(200);
    expect(faultLines.map((line) => line.msg)).toEqual([expect.stringMatching(/^fault began: /), 'fault ended: SERVER_BUSY']);
    expect((await enroll(app, token, 'web1', keys.vm)).status).toBe(202);
  });
});
