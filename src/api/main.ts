import { readFileSync, watchFile } from 'node:fs';
import { createServer } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { z } from 'zod';
import { numberedRootReport, REPORTS_PER_BATCH } from '../channel/root-reports.js';
import { loadConfig, statePaths } from '../config.js';
import { migrateDatabase, openDatabase } from '../db/connection.js';
import { readSshHostKeys } from '../identity/ssh-host-keys.js';
import { readTlsIdentity } from '../identity/tls-identity.js';
import { createLogger } from '../log.js';
import { createApp } from './app.js';
import type { ServerContext } from './context.js';
import { completeInterruptedApprovals } from './enrollment/interrupted-approvals.js';
import { createFaultMonitor } from './monitoring/fault-monitor.js';
import { evaluateStaleness, STALENESS_INTERVAL_MS } from './monitoring/staleness.js';
import { createDeliveryWorker } from './notify/delivery-worker.js';
import { createHttpSender } from './notify/http-sender.js';
import { connectToRoot } from './root-connection.js';
import { applyRootReports } from './root-reports.js';
import {
  acknowledgeRootReports,
  requestCheckFromSupervisor,
  requestHostChangeFromSupervisor,
  requestRestorePointsFromSupervisor,
  useRootConnection,
} from './root-requests.js';
import { loadOrCreateSigningKey, recordSigningKey } from './tokens/signing-key.js';

/** How long the API waits for root's backlog of reports before it serves anyway. */
const CATCH_UP_WAIT_MS = 30_000;
const rootReportBatch = z.strictObject({ type: z.literal('report'), reports: z.array(numberedRootReport).max(1000) });
/** Root's faults (src/root/serve/fault-watch.ts), pushed whenever they change and to every new connection. */
const rootFaultsReport = z.strictObject({ type: z.literal('report'), faults: z.unknown() });
/** How often the API looks at its own faults when no /healthz asks, so that it logs an episode's end without a request. */
const FAULT_CHECK_INTERVAL_MS = 5000;

/** The HTTP API process: started by `borgctl serve` as the unprivileged API user. */
const config = loadConfig();
const logger = createLogger(config.logLevel, 'api');
const paths = statePaths(config.stateDir);
// The API's own database: created and migrated here, by the user that owns it (root never opens it).
const db = openDatabase(paths.database);
migrateDatabase(db);
// Root's channel first: without it the API could not apply a change (root listens before it starts us).
const faults = createFaultMonitor({ db, databaseDir: paths.databaseDir, logger });
const rootConnection = await connectToRoot(paths.apiSocket);
useRootConnection(rootConnection);
// Set before anything else is awaited: root sends what the API has not had yet as soon as it connects.
let markCaughtUp: () => void = () => {};
const caughtUpWithRoot = new Promise<void>((resolve) => {
  markCaughtUp = resolve;
});
// What root recorded and decided (sessions, checks, a host it disabled, audit entries, events) comes as reports.
rootConnection.onPush((message) => {
  const faultsReport = rootFaultsReport.safeParse(message);
  if (faultsReport.success) {
    faults.setRootFaults(faultsReport.data.faults);
    return;
  }
  const batch = rootReportBatch.safeParse(message);
  if (!batch.success) {
    logger.error('root pushed something else than reports');
    return;
  }
  let upTo: number;
  try {
    upTo = applyRootReports(db, batch.data.reports);
  } catch (error) {
    if (!faults.noteError(error)) logger.error({ err: error }, "could not apply root's reports; root sends them again");
    return;
  }
  acknowledgeRootReports(upTo).catch((error: unknown) => logger.warn({ err: error }, "root did not take the reports' acknowledgement"));
  if (batch.data.reports.length < REPORTS_PER_BATCH) markCaughtUp();
});
let tlsIdentity = readTlsIdentity(config);
const signingKey = await loadOrCreateSigningKey(paths.signingKeyDir);
recordSigningKey(db, signingKey, new Date());
const context: ServerContext = {
  db,
  config,
  now: () => new Date(),
  signingKey,
  changeHost: (change) => requestHostChangeFromSupervisor(change),
  requestCheck: (hostName) => requestCheckFromSupervisor(hostName),
  readRestorePoints: (hostName) => requestRestorePointsFromSupervisor(hostName),
  readSshHostKeys: () => readSshHostKeys(paths.sshDir),
  tlsIdentity: () => tlsIdentity,
  faults,
};
// Webhooks and ping URLs go out from here: the process that already talks to the network, never root.
const deliveries = createDeliveryWorker({
  db: context.db,
  now: context.now,
  send: createHttpSender({ allowed: config.outgoingAllow }),
  publicUrl: config.publicUrl,
  logger: logger.child({ part: 'notify' }),
  noteFault: (error) => faults.noteError(error),
});
deliveries.start();
// Built in, no cron: a host that stops backing up is told of once, and once when it recovers.
const stalenessTimer = setInterval(() => {
  try {
    const changed = evaluateStaleness(db, new Date());
    if (changed.stale.length + changed.recovered.length > 0) logger.info(changed, 'host staleness changed');
  } catch (error) {
    if (!faults.noteError(error)) logger.error({ err: error }, 'staleness evaluation failed');
  }
}, STALENESS_INTERVAL_MS);
const faultTimer = setInterval(() => {
  try {
    faults.check();
  } catch (error) {
    logger.error({ err: error }, 'could not look for faults');
  }
}, FAULT_CHECK_INTERVAL_MS);
const app = createApp({ context, logError: (error) => logger.error({ err: error }, 'request failed') });

function readTlsPair() {
  return { cert: readFileSync(paths.tlsCertificate), key: readFileSync(paths.tlsKey) };
}

// Serve once the API's copy has what root reported while it was away (a host the quota watch disabled, an upgrade's hosts).
const isCaughtUp = await Promise.race([caughtUpWithRoot.then(() => true), sleep(CATCH_UP_WAIT_MS).then(() => false)]);
if (!isCaughtUp) logger.warn("serving before root's reports caught up; they keep coming");
// An approval a crash cut short (root made the host, the enrollment is still pending) is completed now.
const completedApprovals = db.transaction((tx) => completeInterruptedApprovals(tx, new Date()));
if (completedApprovals.length > 0) logger.warn({ enrollments: completedApprovals }, 'approvals cut short by a crash completed');
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

function shutDown(exitCode: number) {
  clearInterval(stalenessTimer);
  clearInterval(faultTimer);
  void deliveries.stop();
  server.close(() => process.exit(exitCode));
  setTimeout(() => process.exit(exitCode), 3000).unref();
}
process.on('SIGTERM', () => shutDown(0));
process.on('SIGINT', () => shutDown(0));
// Root closed the channel (it stops, or it dropped this connection): a fresh process connects afresh.
void rootConnection.closed.then(() => {
  logger.error('the channel to root closed; exiting to be started again');
  shutDown(1);
});
