import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { statePaths } from '../../config.js';
import { backUpDatabaseFile } from '../../db/online-backup.js';
import { AppError } from '../../errors.js';
import { HOST_KEY_TYPES, hostKeyPath } from '../../identity/ssh-host-keys.js';
import type { Run } from '../../process/run.js';
import { packStateArchive } from '../../state-archive/state-archive.js';

/**
 * `borgctl state backup` and the scheduled copies: a consistent copy of the
 * server's state while it runs. Root copies its own part (its database with
 * SQLite's online backup, the SSH host keys, the TLS pair it serves); the
 * API's part (its database and signing key) is made by a process of the API
 * user, and root stores that output as one entry without reading it.
 * What reconcile writes from root's database (sshd_config, the key files,
 * the accounts) is not copied: the restored server writes it again.
 */

const API_STATE_COPY_ENTRY = fileURLToPath(new URL('../../api/state-copy/main.js', import.meta.url));
/** The API's part, as the API user's process wrote it. */
export const API_PART_PATH = 'api/state.tar';
export const ROOT_DATABASE_PATH = 'root/root.db';
const TLS_FILES = ['certificate.pem', 'key.pem'] as const;

/** What a server copy may hold: anything else in an archive is refused. */
export const SERVER_STATE_PATHS: ReadonlySet<string> = new Set([
  ROOT_DATABASE_PATH,
  API_PART_PATH,
  ...HOST_KEY_TYPES.flatMap((type) => [`ssh/ssh_host_${type.name}_key`, `ssh/ssh_host_${type.name}_key.pub`]),
  ...TLS_FILES.map((name) => `tls/${name}`),
]);

const API_PART_TIMEOUT_MS = 10 * 60_000;

export async function makeServerStateCopy(options: {
  stateDir: string;
  apiAccount: { uid: number; gid: number };
  serverVersion: string;
  now: Date;
  run: Run;
}): Promise<Buffer> {
  const { stateDir, apiAccount, run } = options;
  const paths = statePaths(stateDir);
  if (!existsSync(paths.rootDatabase)) {
    throw new AppError('CONFIG_INVALID', `no server state at ${stateDir} (no ${paths.rootDatabase}): nothing to back up`);
  }
  // Root's database first, the API's after: a report root sent in between is then sent again after a restore, not lost.
  const files = [{ path: ROOT_DATABASE_PATH, content: await backUpDatabaseFile(paths.rootDatabase, paths.rootDir) }];
  for (const type of HOST_KEY_TYPES) {
    for (const suffix of ['', '.pub']) {
      const path = `${hostKeyPath(paths.sshDir, type.name)}${suffix}`;
      if (existsSync(path)) files.push({ path: `ssh/ssh_host_${type.name}_key${suffix}`, content: readFileSync(path) });
    }
  }
  for (const name of TLS_FILES) {
    const path = `${paths.tlsDir}/${name}`;
    if (existsSync(path)) files.push({ path: `tls/${name}`, content: readFileSync(path) });
  }
  const apiPart = await run(process.execPath, [API_STATE_COPY_ENTRY, 'export', stateDir], {
    timeoutMs: API_PART_TIMEOUT_MS,
    ...apiAccount,
  });
  files.push({ path: API_PART_PATH, content: Buffer.from(apiPart.stdout.trim(), 'base64') });
  return packStateArchive({ kind: 'server', serverVersion: options.serverVersion, createdAt: options.now, files });
}
