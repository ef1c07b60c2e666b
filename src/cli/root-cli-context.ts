import { existsSync } from 'node:fs';
import { type Config, loadConfig, statePaths } from '../config.js';
import { AppError } from '../errors.js';
import { run } from '../process/run.js';
import { reconcile, reconcileSettingsFor } from '../root/reconcile/reconcile.js';
import type { RootContext } from '../root/root-context.js';
import { openRootDatabase } from '../root/root-database.js';
import { requestReconcileOverSocket } from './control-socket.js';

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
