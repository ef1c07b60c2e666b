import { existsSync } from 'node:fs';
import type { ServerContext } from '../api/context.js';
import {
  requestHostChangeFromSupervisor,
  requestMaintainerChangeFromSupervisor,
  requestMaintenanceAcknowledgementFromSupervisor,
} from '../api/root-requests.js';
import { loadOrCreateSigningKey, recordSigningKey } from '../api/tokens/signing-key.js';
import { type Config, loadConfig, statePaths } from '../config.js';
import { migrateDatabase, openDatabase } from '../db/connection.js';
import type { Actor } from '../domain/actor.js';
import { AppError } from '../errors.js';
import { readSshHostKeys } from '../identity/ssh-host-keys.js';
import { readTlsIdentity } from '../identity/tls-identity.js';
import { becomeApiUser } from './api-user.js';
import { openControlChannel } from './control-socket.js';

export const CLI_ACTOR: Actor = { actor: 'cli', sourceAddress: null };

/**
 * The context admin commands run with (`docker exec … borgctl`): the API's
 * database, opened by this process once it has become the API user (root
 * never opens a file that user can write); a change of a host is asked of
 * root over its control socket, connected while this process was root.
 */
export async function openCliContext(config: Config = loadConfig()): Promise<ServerContext> {
  const paths = statePaths(config.stateDir);
  // Root's control socket is root's alone: connected now, kept once this process is the API user (null: no server runs).
  const root = process.geteuid?.() === 0 ? await openControlChannel(paths.controlSocket, { keepsProcessAlive: false }) : null;
  becomeApiUser(config);
  if (!existsSync(paths.database)) {
    throw new AppError('CONFIG_INVALID', `no database at ${paths.database}: start the server once (borgctl serve) to create its state`);
  }
  const db = openDatabase(paths.database);
  migrateDatabase(db);
  const signingKey = await loadOrCreateSigningKey(paths.signingKeyDir);
  recordSigningKey(db, signingKey, new Date());
  return {
    db,
    config,
    now: () => new Date(),
    signingKey,
    readSshHostKeys: () => readSshHostKeys(paths.sshDir),
    tlsIdentity: () => readTlsIdentity(config),
    async changeHost(change) {
      // Nothing is written on the API's side before root said yes: with no server, nothing changes.
      if (!root) throw new AppError('RECONCILE_FAILED', 'the server is not running: start it (borgctl serve), then try again');
      return requestHostChangeFromSupervisor(change, 120_000, root);
    },
    async changeMaintainer(change) {
      if (!root) throw new AppError('RECONCILE_FAILED', 'the server is not running: start it (borgctl serve), then try again');
      return requestMaintainerChangeFromSupervisor(change, 120_000, root);
    },
    async acknowledgeMaintenance(hostName) {
      if (!root) throw new AppError('RECONCILE_FAILED', 'the server is not running: start it (borgctl serve), then try again');
      return requestMaintenanceAcknowledgementFromSupervisor(hostName, 120_000, root);
    },
  };
}
