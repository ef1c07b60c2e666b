import { readFileSync, watchFile } from 'node:fs';
import { createServer } from 'node:https';
import { serve } from '@hono/node-server';
import { loadConfig, statePaths } from '../config.js';
import type { ServerContext } from '../context.js';
import { openStateDatabase } from '../db/state-database.js';
import { createLogger } from '../log.js';
import { createDeliveryWorker } from '../notify/delivery-worker.js';
import { sendHttpRequest } from '../notify/http-sender.js';
import { readSshHostKeys } from '../provision/host-keys.js';
import {
  requestCheckFromSupervisor,
  requestReconcileFromSupervisor,
  requestRestorePointsFromSupervisor,
} from '../supervise/reconcile-messages.js';
import { readTlsIdentity } from '../tls/tls-files.js';
import { loadOrCreateSigningKey } from '../tokens/signing-key.js';
import { createApp } from './app.js';

/** The HTTP API process: started by `borgctl serve` as the unprivileged API user. */
const config = loadConfig();
const logger = createLogger(config.logLevel, 'api');
const paths = statePaths(config.stateDir);
let tlsIdentity = readTlsIdentity(config);
const context: ServerContext = {
  db: openStateDatabase(paths.database),
  config,
  now: () => new Date(),
  signingKey: await loadOrCreateSigningKey(paths.signingKeyDir),
  requestReconcile: () => requestReconcileFromSupervisor(),
  requestCheck: (hostName) => requestCheckFromSupervisor(hostName),
  readRestorePoints: (hostName) => requestRestorePointsFromSupervisor(hostName),
  readSshHostKeys: () => readSshHostKeys(paths.sshDir),
  tlsIdentity: () => tlsIdentity,
};
// Webhooks and ping URLs go out from here: the process that already talks to the network, never root.
const deliveries = createDeliveryWorker({
  db: context.db,
  now: context.now,
  send: sendHttpRequest,
  logger: logger.child({ part: 'notify' }),
});
deliveries.start();
const app = createApp({ context, logError: (error) => logger.error({ err: error }, 'request failed') });

function readTlsPair() {
  return { cert: readFileSync(paths.tlsCertificate), key: readFileSync(paths.tlsKey) };
}

const server = serve(
  {
    fetch: app.fetch,
    hostname: config.httpHost,
    port: config.httpPort,
    ...(config.isHttps ? { createServer, serverOptions: { ...readTlsPair(), minVersion: 'TLSv1.2' as const } } : {}),
  },
  (info) => logger.info({ address: info.address, port: info.port, https: config.isHttps, pin: tlsIdentity?.pin }, 'API listening'),
);

if (config.isHttps) {
  // The supervisor replaces the files when BORG_SERVER_TLS_CERT/KEY are renewed.
  watchFile(paths.tlsCertificate, { interval: 2000 }, () => {
    try {
      (server as import('node:https').Server).setSecureContext({ ...readTlsPair(), minVersion: 'TLSv1.2' });
      tlsIdentity = readTlsIdentity(config);
      logger.info({ pin: tlsIdentity?.pin }, 'serving the renewed TLS certificate');
    } catch (error) {
      logger.error({ err: error }, 'could not load the renewed TLS certificate');
    }
  });
}

function shutDown() {
  void deliveries.stop();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);
process.on('disconnect', shutDown);
