import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-busy-'));
  db = openDatabase(join(directory, 'borg.db'));
  migrateDatabase(db);
  // The real 5 s would only make the test slow; what happens after it is the same.
  db.$client.pragma('busy_timeout = 50');
  other = openDatabase(join(directory, 'borg.db'));
  const { context } = await makeTestContext({ db });
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
  it('answers 503 SERVER_BUSY with a JSON body, logs it, and spends nothing: the same token works once the lock is gone', async () => {
    const token = await mintToken(app, adminToken, { host: 'web1' });
    other.$client.exec('BEGIN IMMEDIATE');

    const refused = await enroll(app, token, 'web1', keys.vm);
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({ error: 'SERVER_BUSY', message: 'the server is busy; try again in a few seconds' });
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(logged).toEqual([expect.objectContaining({ code: 'SQLITE_BUSY' })]);

    other.$client.exec('ROLLBACK');
    expect((await enroll(app, token, 'web1', keys.vm)).status).toBe(202);
  });
});
