import {
  chmodSync,
  chownSync,
  lchownSync,
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
import { exportJWK, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCliContext } from '../../../src/cli/cli-context.js';
import { loadConfig, statePaths } from '../../../src/config.js';
import { openStateDatabase } from '../../../src/db/state-database.js';

/**
 * `docker exec … borgctl` runs as root against the API user's db/: a link the
 * API user put where the signing key belongs must not give it a root file.
 */

const isRoot = process.getuid?.() === 0;
const API_OWNER = { uid: 29_999, gid: 29_999 };

let base: string;
let paths: ReturnType<typeof statePaths>;
let config: ReturnType<typeof loadConfig>;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-cli-context-'));
  chmodSync(base, 0o711);
  config = loadConfig({ BORG_SERVER_STATE_DIR: join(base, 'state') });
  paths = statePaths(config.stateDir);
  mkdirSync(config.stateDir, { mode: 0o711 });
  for (const directory of [paths.databaseDir, paths.signingKeyDir]) {
    mkdirSync(directory, { mode: 0o700 });
    chownSync(directory, API_OWNER.uid, API_OWNER.gid);
  }
  openStateDatabase(paths.database).$client.close();
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

describe.runIf(isRoot)('openCliContext as root', () => {
  it('creates a missing signing key as the API user', async () => {
    const context = await openCliContext(config);
    context.db.$client.close();
    expect(statSync(join(paths.signingKeyDir, 'enrollment-signing-key.jwk'))).toMatchObject({ uid: API_OWNER.uid, gid: API_OWNER.gid });
  });

  it('refuses a signing key that is a symlink to a root file, and leaves that file alone', async () => {
    // The worst case: the target even holds a key, so reading it succeeds where root reads it.
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const rootFile = join(base, 'root-file');
    const content = `${JSON.stringify(await exportJWK(privateKey))}\n`;
    writeFileSync(rootFile, content, { mode: 0o600 });
    const link = join(paths.signingKeyDir, 'enrollment-signing-key.jwk');
    symlinkSync(rootFile, link);
    lchownSync(link, API_OWNER.uid, API_OWNER.gid);

    await expect(openCliContext(config)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    const stats = statSync(rootFile);
    expect({ uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 }).toEqual({ uid: 0, gid: 0, mode: 0o600 });
    expect(readFileSync(rootFile, 'utf8')).toBe(content);
  });
});
