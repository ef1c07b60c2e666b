import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStateDatabase } from '../../../src/db/state-database.js';

/**
 * Root opening the API user's database: the API user owns db/ and may put
 * links there; root must neither follow them nor hand their targets over.
 * Root only (it changes owners).
 */

const isRoot = process.getuid?.() === 0;
const API_OWNER = { uid: 29_999, gid: 29_999 };
const ROOT_SECRET = "root's own file\n";

let base: string;
let databaseDir: string;
let rootFile: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-state-database-'));
  chmodSync(base, 0o711);
  databaseDir = join(base, 'db');
  mkdirSync(databaseDir, { mode: 0o700 });
  chownSync(databaseDir, API_OWNER.uid, API_OWNER.gid);
  rootFile = join(base, 'root-file');
  writeFileSync(rootFile, ROOT_SECRET, { mode: 0o600 });
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

/** A link the API user made in its own directory. */
function plantLink(name: string, target: string): void {
  symlinkSync(target, join(databaseDir, name));
  lchownSync(join(databaseDir, name), API_OWNER.uid, API_OWNER.gid);
}

function expectRootFileUntouched(): void {
  const stats = statSync(rootFile);
  expect({ uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 }).toEqual({ uid: 0, gid: 0, mode: 0o600 });
  expect(readFileSync(rootFile, 'utf8')).toBe(ROOT_SECRET);
}

describe.runIf(isRoot)('openStateDatabase as root', () => {
  it('creates the database files as the owner of the database directory', () => {
    const db = openStateDatabase(join(databaseDir, 'borg.db'));
    try {
      for (const name of ['borg.db', 'borg.db-wal', 'borg.db-shm']) {
        expect(lstatSync(join(databaseDir, name)), name).toMatchObject({ uid: API_OWNER.uid, gid: API_OWNER.gid });
      }
    } finally {
      db.$client.close();
    }
  });

  it('hands a database file root made earlier to the directory owner', () => {
    openStateDatabase(join(databaseDir, 'borg.db')).$client.close();
    chownSync(join(databaseDir, 'borg.db'), 0, 0);
    openStateDatabase(join(databaseDir, 'borg.db')).$client.close();
    expect(lstatSync(join(databaseDir, 'borg.db'))).toMatchObject({ uid: API_OWNER.uid, gid: API_OWNER.gid });
  });

  for (const name of ['borg.db', 'borg.db-wal', 'borg.db-shm']) {
    it(`refuses a symlink the API user planted at ${name}, and leaves its target alone`, () => {
      if (name !== 'borg.db') openStateDatabase(join(databaseDir, 'borg.db')).$client.close();
      plantLink(name, rootFile);
      expect(() => openStateDatabase(join(databaseDir, 'borg.db'))).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
      expectRootFileUntouched();
    });
  }

  it('refuses a hard link to a root file in the database directory', () => {
    openStateDatabase(join(databaseDir, 'borg.db')).$client.close();
    rmSync(join(databaseDir, 'borg.db-wal'), { force: true });
    // What the API user could do where fs.protected_hardlinks is off.
    linkSync(rootFile, join(databaseDir, 'borg.db-wal'));
    expect(() => openStateDatabase(join(databaseDir, 'borg.db'))).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expectRootFileUntouched();
  });
});
