import { serve } from '@hono/node-server';
import { loadConfig, statePaths } from '../config.js';
import type { ServerContext } from '../context.js';
import { openStateDatabase } from '../db/state-database.js';
import { createLogger } from '../log.js';
import { readSshHostKeys } from '../provision/host-keys.js';
import { requestReconcileFromSupervisor } from '../supervise/reconcile-messages.js';
import { loadOrCreateSigningKey } from '../tokens/signing-key.js';
import { createApp } from './app.js';

/** The HTTP API process: started by `borgctl serve` as the unprivileged API user. */
const config = loadConfig();
const logger = createLogger(config.logLevel, 'api');
const paths = statePaths(config.stateDir);
const context: ServerContext = {
  db: openStateDatabase(paths.database),
  config,
  now: () => new Date(),
  signingKey: await loadOrCreateSigningKey(paths.signingKeyDir),
  requestReconcile: () => requestReconcileFromSupervisor(),
  readSshHostKeys: () => readSshHostKeys(paths.sshDir),
};
const app = createApp({ context, logError: (error) => logger.error({ err: error }, 'request failed') });
const server = serve({ fetch: app.fetch, hostname: config.httpHost, port: config.httpPort }, (info) => {
  logger.info({ address: info.address, port: info.port }, 'API listening');
});

function shutDown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);
process.on('disconnect', shutDown);
