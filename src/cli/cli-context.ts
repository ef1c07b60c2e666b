import { existsSync } from 'node:fs';
import { type Config, loadConfig, statePaths } from '../config.js';
import type { Actor, ServerContext } from '../context.js';
import { migrateDatabase } from '../db/connection.js';
import { databaseDirectoryOwner, openStateDatabase } from '../db/state-database.js';
import { AppError } from '../errors.js';
import { run } from '../process/run.js';
import { accessAs } from '../provision/effective-account.js';
import { readSshHostKeys } from '../provision/host-keys.js';
import { reconcile, reconcileSettingsFor } from '../provision/reconcile.js';
import { requestReconcileOverSocket } from '../supervise/control-socket.js';
import { readTlsIdentity } from '../tls/tls-files.js';
import { loadOrCreateSigningKey } from '../tokens/signing-key.js';

export const CLI_ACTOR: Actor = { actor: 'cli', sourceAddress: null };

/**
 * The context admin commands run with (`docker exec … borgctl`): the server's
 * own database; changes are applied by the running server (over its control
 * socket), or here when no server runs.
 */
export async function openCliContext(config: Config = loadConfig()): Promise<ServerContext> {
  const paths = statePaths(config.stateDir);
  if (!existsSync(paths.database)) {
    throw new AppError('CONFIG_INVALID', `no database at ${paths.database}: start the server once (borgctl serve) to create its state`);
  }
  const db = openStateDatabase(paths.database);
  migrateDatabase(db);
  // db/ is the API user's: root reads and writes there only as that user.
  const asDatabaseOwner = accessAs(databaseDirectoryOwner(paths.database));
  const signingKey = await loadOrCreateSigningKey(paths.signingKeyDir, asDatabaseOwner);
  return {
    db,
    config,
    now: () => new Date(),
    signingKey,
    readSshHostKeys: () => readSshHostKeys(paths.sshDir),
    tlsIdentity: () => asDatabaseOwner(() => readTlsIdentity(config)),
    async requestReconcile() {
      const didServerReconcile = await requestReconcileOverSocket(paths.controlSocket);
      if (!didServerReconcile) reconcile(db, await reconcileSettingsFor(config, run));
    },
  };
}
