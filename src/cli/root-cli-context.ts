import { existsSync } from 'node:fs';
import { type Config, loadConfig, statePaths } from '../config.js';
import { openRootDatabase } from '../db/root-database.js';
import { AppError } from '../errors.js';
import { run } from '../process/run.js';
import { reconcile, reconcileSettingsFor } from '../provision/reconcile.js';
import { requestReconcileOverSocket } from '../supervise/control-socket.js';
import type { RootContext } from '../supervise/root-context.js';

/**
 * The context of the admin commands that stay root (`borgctl hosts restore`,
 * `hosts check`): root's own database, never the API's. What they change is
 * applied by the running server (over its root-only control socket), or here
 * when none runs; the API hears of it through root's reports.
 */
export function openRootCliContext(config: Config = loadConfig()): RootContext {
  if (process.geteuid?.() !== 0) throw new AppError('CONFIG_INVALID', 'this command acts on repositories and accounts: run it as root');
  const paths = statePaths(config.stateDir);
  if (!existsSync(paths.rootDatabase)) {
    throw new AppError('CONFIG_INVALID', `no database at ${paths.rootDatabase}: start the server once (borgctl serve) to create its state`);
  }
  const { db } = openRootDatabase(paths.rootDir, paths.rootDatabase);
  return {
    db,
    config,
    now: () => new Date(),
    async requestReconcile() {
      const didServerReconcile = await requestReconcileOverSocket(paths.controlSocket);
      if (!didServerReconcile) reconcile(db, await reconcileSettingsFor(config, run));
    },
  };
}
