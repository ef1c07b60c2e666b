import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOST_ACCOUNT_MARKER } from '../../../../src/root/accounts/account-files.js';
import {
  createServerAccounts,
  parseServerAccounts,
  serverAccountOf,
  serverUidsAmong,
} from '../../../../src/root/accounts/server-accounts.js';
import { SYSTEM_PASSWD, writeAccountDatabase } from '../../../support/account-database.js';

/** Which accounts are the server's, from passwd text as reconcile writes it and as others may change it. */

const BACKUP_DIR = '/srv/backups';
const line = (name: string, uid: number, changes: { gid?: number; marker?: string; home?: string; shell?: string } = {}) =>
  [
    name,
    'x',
    uid,
    changes.gid ?? uid,
    changes.marker ?? HOST_ACCOUNT_MARKER,
    changes.home ?? `${BACKUP_DIR}/${name}`,
    changes.shell ?? '/bin/sh',
  ].join(':');
const uidsIn = (passwd: string) => [...parseServerAccounts(passwd, BACKUP_DIR).keys()];

describe('parseServerAccounts', () => {
  it('finds the host accounts reconcile wrote, and no other account', () => {
    const passwd = `${SYSTEM_PASSWD}${line('web1', 20001)}\n${line('db1', 20002)}\n`;
    expect(parseServerAccounts(passwd, BACKUP_DIR)).toEqual(
      new Map([
        [20001, { name: 'web1', uid: 20001, home: `${BACKUP_DIR}/web1` }],
        [20002, { name: 'db1', uid: 20002, home: `${BACKUP_DIR}/db1` }],
      ]),
    );
  });

  it("does not count an admin's own account in the host range", () => {
    expect(uidsIn(SYSTEM_PASSWD)).toEqual([]);
  });

  it.each([
    ['without the marker', line('web1', 20001, { marker: 'Web One' })],
    ['with another primary group', line('web1', 20001, { gid: 100 })],
    ['with the hosts group as its own', line('web1', 19999)],
    ['with a UID below the host range', line('web1', 999)],
    ['with UID 0', line('web1', 0)],
    ['with a UID above the host range', line('web1', 60000)],
    ['with a home outside the backup directory', line('web1', 20001, { home: '/home/web1' })],
    ['with the home of another name', line('web1', 20001, { home: `${BACKUP_DIR}/db1` })],
    ['with another shell', line('web1', 20001, { shell: '/bin/bash' })],
    ['whose name is no host name', line('Web1', 20001, { home: `${BACKUP_DIR}/Web1` })],
    ['whose UID is not a number', line('web1', 20001).replace('20001:20001', '2e4:2e4')],
    ['with a field too many', `${line('web1', 20001)}:extra`],
  ])('does not count an entry %s', (_case, entry) => {
    expect(uidsIn(`${SYSTEM_PASSWD}${entry}\n`)).toEqual([]);
  });

  it('does not count a marked entry whose UID another account has too', () => {
    expect(uidsIn(`${SYSTEM_PASSWD}${line('mallory', 54321)}\n`)).toEqual([]);
    expect(uidsIn(`${line('web1', 20001)}\n${line('web2', 20001, { home: `${BACKUP_DIR}/web2` })}\n`)).toEqual([]);
  });

  it('does not count a marked entry whose name another entry has too', () => {
    expect(uidsIn(`${line('web1', 20001)}\n${line('web1', 20002)}\n`)).toEqual([]);
  });
});

describe('serverUidsAmong and serverAccountOf', () => {
  const accounts = parseServerAccounts(`${SYSTEM_PASSWD}${line('web1', 20001)}\n`, BACKUP_DIR);

  it('keeps only the UIDs of server accounts', () => {
    expect(serverUidsAmong(accounts, [0, 100, 20001, 20002, 54321])).toEqual(new Set([20001]));
  });

  it('finds a host only by its name and UID together', () => {
    expect(serverAccountOf(accounts, { name: 'web1', uid: 20001 })).toMatchObject({ name: 'web1', uid: 20001 });
    expect(serverAccountOf(accounts, { name: 'web2', uid: 20001 })).toBeNull();
    expect(serverAccountOf(accounts, { name: 'alice', uid: 54321 })).toBeNull();
  });
});

describe('createServerAccounts', () => {
  let etcDir: string;
  beforeEach(() => {
    etcDir = mkdtempSync(join(tmpdir(), 'sbs-server-accounts-'));
  });
  afterEach(() => rmSync(etcDir, { recursive: true, force: true }));

  function recordingLogger() {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (text: string) => lines.push(JSON.parse(text)) });
    return { logger, lines };
  }

  it('reads the account database again when it is replaced, and not otherwise', () => {
    writeAccountDatabase(etcDir, BACKUP_DIR, [{ name: 'web1', uid: 20001 }]);
    const accounts = createServerAccounts({ backupDir: BACKUP_DIR, etcDir, logger: pino({ level: 'silent' }) });
    const first = accounts.current();
    expect([...first.keys()]).toEqual([20001]);
    expect(accounts.current()).toBe(first);
    writeAccountDatabase(etcDir, BACKUP_DIR, [
      { name: 'web1', uid: 20001 },
      { name: 'web2', uid: 20002 },
    ]);
    expect([...accounts.current().keys()]).toEqual([20001, 20002]);
  });

  it('has no accounts without an account database', () => {
    const accounts = createServerAccounts({ backupDir: BACKUP_DIR, etcDir, logger: pino({ level: 'silent' }) });
    expect(accounts.all()).toEqual(new Set());
  });

  it("logs a UID (or a host) that is not the server's once, however often it is asked about", () => {
    writeAccountDatabase(etcDir, BACKUP_DIR, [{ name: 'web1', uid: 20001 }]);
    const { logger, lines } = recordingLogger();
    const accounts = createServerAccounts({ backupDir: BACKUP_DIR, etcDir, logger });
    for (let look = 0; look < 3; look += 1) {
      expect(accounts.only([20001, 54321])).toEqual(new Set([20001]));
      expect(accounts.accountOf({ name: 'alice', uid: 54321 })).toBeNull();
    }
    expect(lines.map((entry) => [entry.uid, entry.host])).toEqual([
      [54321, undefined],
      [54321, 'alice'],
    ]);
  });

  it('keeps the hosts whose name and UID are a server account, and logs each other one once', () => {
    writeAccountDatabase(etcDir, BACKUP_DIR, [{ name: 'web1', uid: 20001 }]);
    const { logger, lines } = recordingLogger();
    const accounts = createServerAccounts({ backupDir: BACKUP_DIR, etcDir, logger });
    const rows = [
      { name: 'web1', uid: 20001, status: 'active' },
      { name: 'alice', uid: 54321, status: 'active' },
      { name: 'web2', uid: 20001, status: 'disabled' },
    ];
    expect(accounts.onlyHosts(rows)).toEqual([rows[0]]);
    accounts.onlyHosts(rows);
    expect(lines.map((entry) => `${entry.host}:${entry.uid}`)).toEqual(['alice:54321', 'web2:20001']);
  });

  it('gives every server UID, for the end of every session', () => {
    writeAccountDatabase(etcDir, BACKUP_DIR, [
      { name: 'web1', uid: 20001 },
      { name: 'db1', uid: 20002 },
    ]);
    expect(createServerAccounts({ backupDir: BACKUP_DIR, etcDir, logger: pino({ level: 'silent' }) }).all()).toEqual(
      new Set([20001, 20002]),
    );
  });
});
