import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type HostChange, hostChangeRequest } from '../../channel/host-change.js';
import { toHostRowMessage } from '../../channel/host-row.js';
import { type MaintainerChange, maintainerChangeRequest, maintenanceAcknowledgement } from '../../channel/maintainer-change.js';
import { type Config, statePaths } from '../../config.js';
import { parseAcceptedKeyLogin } from '../../domain/sshd-log.js';
import { AppError } from '../../errors.js';
import { findHost } from '../../host-records/hosts-store.js';
import type { Logger } from '../../log.js';
import { run, startChild } from '../../process/run.js';
import { readServerVersion } from '../../state-archive/server-version.js';
import { findAccount } from '../accounts/account-files.js';
import { createServerAccounts, type ServerAccounts } from '../accounts/server-accounts.js';
import { CHECK_SCHEDULE_INTERVAL_MS, createIntegrityChecks } from '../checks/integrity-check.js';
import { ensureDirectory } from '../files/directories.js';
import { childProcesses, endProcessesAndWait } from '../processes/child-processes.js';
import { createHostProcessTable, endSessionsAndWait } from '../processes/sessions.js';
import { createReconcileMemory, type ReconcileSummary, reconcile, reconcileSettingsFor } from '../reconcile/reconcile.js';
import { type HostReconcile, reconcileHost } from '../reconcile/reconcile-host.js';
import { createReportPump, REPORT_FLUSH_INTERVAL_MS, reportsAcknowledgement } from '../reports/report-pump.js';
import { changeHost } from '../requests/host-requests.js';
import { acknowledgeMaintenance, changeMaintainer } from '../requests/maintainer-requests.js';
import { createRequestDispatcher } from '../requests/request-dispatcher.js';
import { listenForRequests, MAX_API_CONNECTIONS, MAX_CLI_CONNECTIONS } from '../requests/request-sockets.js';
import { createRequestTable, defineRequest } from '../requests/request-table.js';
import { supervisorRequestDefinitions } from '../requests/supervisor-request-handlers.js';
import { openRootDatabase } from '../root-database.js';
import { ensureSshHostKeys } from '../sshd/host-key-generation.js';
import { createKeyLogins } from '../sshd/key-logins.js';
import { SSHD_ENVIRONMENT } from '../sshd/sshd-environment.js';
import { startScheduledStateCopies } from '../state-backup/scheduled-state-copies.js';
import { prepareTlsFiles, watchGivenTlsFiles } from '../tls/tls-files.js';
import { importAncestorUsers } from '../upgrade/import-ancestor.js';
import { importLegacyState } from '../upgrade/legacy-state.js';
import { createQuietLooks } from '../watch/quiet-looks.js';
import {
  createRepositoryWatch,
  REPOSITORY_WATCH_INTERVAL_MS,
  REPOSITORY_WATCH_SWEEP_EVERY,
  type RepositoryWatch,
} from '../watch/repository-watch.js';
import { createSessionLimit, SESSION_LIMIT_INTERVAL_MS } from '../watch/session-limit.js';
import { type SupervisedChild, superviseChild } from './child.js';
import { endStaleChildren, forgetChild, recordChild } from './child-records.js';
import { type FaultWatch, startFaultWatch } from './fault-watch.js';
import { FULL_RECONCILE_INTERVAL_MS, startLiveness } from './liveness.js';
import { createReconcileQueue, type ReconcileBatch } from './reconcile-queue.js';

const API_ENTRY = fileURLToPath(new URL('../../api/main.js', import.meta.url));
const SSHD = '/usr/sbin/sshd';
const STOP_GRACE_MS = 5000;
const SESSION_GRACE_MS = 2000;
/** The session limit looks at every how many of the repository watch's ticks. */
const SESSION_LIMIT_EVERY_LOOKS = Math.max(1, Math.round(SESSION_LIMIT_INTERVAL_MS / REPOSITORY_WATCH_INTERVAL_MS));

/**
 * sshd gives each session its own process group, so stopping the listener
 * leaves open borg sessions running: end them, politely first. Those of every
 * account root made, and no other: not what a host row names.
 */
async function endHostSessions(serverAccounts: ServerAccounts): Promise<void> {
  await endSessionsAndWait(serverAccounts.all(), { graceMs: SESSION_GRACE_MS });
}

/** Environment the children get: our settings, nothing else of ours. */
function childEnvironment(config: Config): Record<string, string> {
  return {
    BORG_SERVER_STATE_DIR: config.stateDir,
    BORG_SERVER_BACKUP_DIR: config.backupDir,
    BORG_SERVER_SSH_PORT: String(config.sshPort),
    ...(config.sshListenAddresses.length > 0 ? { BORG_SERVER_SSH_LISTEN_ADDRESS: config.sshListenAddresses.join(',') } : {}),
    BORG_SERVER_HTTP_HOST: config.httpHost,
    BORG_SERVER_HTTP_PORT: String(config.httpPort),
    BORG_SERVER_PUBLIC_URL: config.publicUrl,
    BORG_SERVER_SSH_HOST: config.sshHost,
    BORG_SERVER_SSH_PUBLIC_PORT: String(config.sshPublicPort),
    BORG_SERVER_API_USER: config.apiUser,
    BORG_SERVER_LOG_LEVEL: config.logLevel,
    ...(config.outgoingAllow === null ? {} : { BORG_SERVER_OUTGOING_ALLOW: config.outgoingAllow }),
  };
}

/**
 * `borgctl serve`: migrations, host keys, reconcile, then sshd and the API
 * (as the unprivileged API user) under supervision until SIGTERM.
 */
export async function serve(config: Config, logger: Logger): Promise<void> {
  if (process.getuid?.() !== 0) throw new AppError('CONFIG_INVALID', 'borgctl serve must run as root (it manages accounts and sshd)');
  const paths = statePaths(config.stateDir);
  const apiAccount = findAccount(readFileSync('/etc/passwd', 'utf8'), config.apiUser);
  if (!apiAccount) {
    throw new AppError('CONFIG_INVALID', `the API user "${config.apiUser}" does not exist (useradd --system ${config.apiUser})`);
  }

  mkdirSync(config.stateDir, { recursive: true });
  ensureDirectory(config.stateDir, { uid: 0, gid: 0, mode: 0o711 });
  // db/ is the API user's (its database, signing key, TLS files): root makes the directory and never opens a file in it.
  ensureDirectory(paths.databaseDir, { ...apiAccount, mode: 0o700 });
  ensureDirectory(paths.sshDir, { uid: 0, gid: 0, mode: 0o711 });
  // Root's sockets: the API user may connect to its own (group) but write no directory on the way.
  ensureDirectory(paths.runDir, { uid: 0, gid: 0, mode: 0o711 });
  ensureDirectory(paths.controlSocketDir, { uid: 0, gid: 0, mode: 0o700 });
  ensureDirectory(paths.apiSocketDir, { uid: 0, gid: apiAccount.gid, mode: 0o750 });
  ensureDirectory(paths.childrenDir, { uid: 0, gid: 0, mode: 0o700 });
  // A serve killed with -9 left its children: an sshd holding the port with the old configuration, perhaps the API.
  await endStaleChildren(paths.childrenDir, logger);
  // Where the control socket was before it moved to run/.
  rmSync(`${config.stateDir}/control.sock`, { force: true });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  let faultWatch: FaultWatch | undefined;
  const liveness = startLiveness({
    path: paths.livenessFile,
    logger,
    now: () => new Date(),
    stallBoundMs: config.rootStallSeconds * 1000,
    faults: () => faultWatch?.current() ?? [],
  });

  // Root's own database: what root acts on, written only by root after it checked what it was asked.
  const { db, isNew } = openRootDatabase(paths.rootDir, paths.rootDatabase);
  if (isNew) await importLegacyState({ db, config, apiAccount, logger, run });

  if (config.isHttps) await prepareTlsFiles(config, apiAccount, new Date(), logger);
  const stopWatchingTls = watchGivenTlsFiles(config, apiAccount, logger);
  if (config.importUsersDir) importAncestorUsers(db, config, logger);
  await ensureSshHostKeys(paths.sshDir, run);

  let sshd: SupervisedChild | null = null;
  // Which key sshd accepted for each login: the session tracker's word for a session whose command no look saw.
  const keyLogins = createKeyLogins();
  const reconcileSettings = await reconcileSettingsFor(config, run);
  let memory = createReconcileMemory();
  let repositoryWatch: RepositoryWatch | undefined;
  let windowEndTimer: NodeJS.Timeout | undefined;
  // The accounts root made (in /etc/passwd): the only ones whose processes and files root acts on.
  const serverAccounts = createServerAccounts({ backupDir: config.backupDir, logger });
  // borg check --repository-only of each host on its schedule, as the host, never during its sessions.
  const checks = createIntegrityChecks({
    db,
    backupDir: config.backupDir,
    stateDir: config.stateDir,
    logger,
    now: () => new Date(),
    run,
    serverAccounts,
  });
  // The session cap and the repository watch look at /proc in the same timer turn: one scan serves both.
  const processTable = createHostProcessTable();
  // The watches' /proc scans are skipped while sshd has no connection and the last look found nothing (quiet-looks.ts).
  const quietLooks = createQuietLooks({ listenerPid: () => sshd?.current()?.pid });
  const sessionLimit = createSessionLimit({
    db,
    backupDir: config.backupDir,
    logger,
    now: () => new Date(),
    serverAccounts,
    ownPids: checks.ownPids,
    processTable,
  });
  /** What every pass hands on, for one host or all: the watches' rows, the window timer, the log, sshd's HUP. */
  const applySummary = (summary: ReconcileSummary, startedAt: number, scope: { host?: string }) => {
    // The rows this pass read and checked: the watches take them instead of reading and checking every row again.
    repositoryWatch?.refreshHosts(summary.hosts);
    sessionLimit.refreshHosts(summary.hosts);
    quietLooks.wake();
    // When a full-access window ends, --append-only goes back into that host's key line.
    clearTimeout(windowEndTimer);
    if (summary.nextFullAccessEnd) {
      const delayMs = Math.max(0, summary.nextFullAccessEnd.getTime() - Date.now()) + 100;
      windowEndTimer = setTimeout(() => {
        reconcileNow().catch((error: unknown) => logger.error({ err: error }, 'reconcile failed'));
      }, delayMs);
    }
    for (const conflict of summary.conflicts) logger.error(conflict, 'host left out: its account would clash with a system account');
    for (const refusal of summary.refused) logger.error(refusal, 'host refused: nothing is done for its row');
    for (const left of summary.leftAlone) logger.warn(left, "left alone: not the server's to signal or remove");
    const { hosts: _rows, ...logged } = summary;
    logger.info(
      {
        ...scope,
        ...logged,
        conflicts: summary.conflicts.length,
        refused: summary.refused.length,
        leftAlone: summary.leftAlone.length,
        ms: Math.round(performance.now() - startedAt),
      },
      'reconciled',
    );
    if (summary.sshdConfigChanged) sshd?.current()?.kill('SIGHUP');
  };
  const fullPass = () => {
    const startedAt = performance.now();
    applySummary(reconcile(db, reconcileSettings, memory, new Date()), startedAt, {});
  };
  /**
   * A batch asks for passes of the hosts root changed (reconcile-host.ts: that host's row, files and lines only),
   * or for a full pass (at start, on SIGHUP, every FULL_RECONCILE_INTERVAL_MS, when asked, when a full-access
   * window ends, and whenever a pass for one host cannot decide alone).
   */
  const runBatch = async (batch: ReconcileBatch) => {
    if (batch.isFull) return fullPass();
    for (const name of batch.names) {
      const startedAt = performance.now();
      let result: HostReconcile;
      try {
        result = reconcileHost(db, reconcileSettings, memory, name, new Date());
      } catch (error) {
        logger.error({ err: error, host: name }, 'the pass for one host failed');
        result = { isDone: false, reason: 'its pass failed' };
      }
      if (!result.isDone) {
        logger.info({ host: name, reason: result.reason }, 'a full reconcile pass instead of one for the host');
        return fullPass();
      }
      applySummary(result.summary, startedAt, { host: name });
    }
  };
  const reconcileQueue = createReconcileQueue((batch) => liveness.track('reconcile', runBatch(batch)));
  const reconcileNow = reconcileQueue.requestFull;
  await reconcileNow();
  const reports = createReportPump({ db, logger });
  /** A change of a host the API asks for: checked against root's state, written, applied, answered with root's row. */
  async function answerHostChange(change: HostChange, auditAs: string | undefined) {
    // A new host needs a repository on the backup volume: refused with the reason while it cannot take one.
    const backupFault = faultWatch
      ?.current()
      .find((fault) => fault.code === 'BACKUP_VOLUME_FULL' || fault.code === 'BACKUP_VOLUME_READ_ONLY');
    if (backupFault && change.action === 'put-key' && !findHost(db, change.name)) throw new AppError(backupFault.code, backupFault.message);
    const answer = changeHost(db, change, { now: new Date(), ...(auditAs === undefined ? {} : { auditAs }) });
    // One host changed: its row, files and lines only (a full pass when that cannot decide, a purge for one).
    await reconcileQueue.requestHost(answer.row?.name ?? change.name);
    // After reconcile: a purge done leaves no row.
    const row = findHost(db, change.name);
    return { ...answer, row: row ? toHostRowMessage(row) : null };
  }

  /** A change of a maintainer: checked against root's state, written, applied to every granted host's key file by a full pass. */
  async function answerMaintainerChange(change: MaintainerChange) {
    const answer = changeMaintainer(db, change, { now: new Date() });
    await reconcileNow();
    return answer;
  }

  // One table answers the API's socket and the CLI's alike; the socket says who asks.
  const dispatcher = createRequestDispatcher({
    table: createRequestTable({
      ...supervisorRequestDefinitions({ reconcileNow, checks, db, backupDir: config.backupDir, logger }),
      'host.change': defineRequest({
        schema: hostChangeRequest,
        from: ['api', 'cli'],
        handle: ({ change, auditAs }) => answerHostChange(change, auditAs),
      }),
      'maintainer.change': defineRequest({
        schema: maintainerChangeRequest,
        from: ['api', 'cli'],
        handle: ({ change }) => answerMaintainerChange(change),
      }),
      'maintenance.acknowledge': defineRequest({
        schema: maintenanceAcknowledgement,
        from: ['api', 'cli'],
        async handle({ host }) {
          const answer = acknowledgeMaintenance(db, host, { now: new Date() });
          await reconcileQueue.requestHost(answer.host);
          return answer;
        },
      }),
      'reports.ack': defineRequest({ schema: reportsAcknowledgement, from: ['api'], handle: ({ upTo }) => reports.acknowledge(upTo) }),
    }),
    logger: logger.child({ part: 'channel' }),
    // Root's reports go to the API's connections; one that (re)connects gets what is not acknowledged yet.
    onConnection(origin, change) {
      if (origin !== 'api') return;
      if (change === 'opened') {
        dispatcher.push('api', { type: 'report', faults: faultWatch?.current() ?? [] });
        reports.connect((batch) => dispatcher.push('api', { type: 'report', reports: batch }));
      } else if (dispatcher.connectionCount('api') === 0) reports.disconnect();
    },
  });
  const requestSockets = await Promise.all([
    listenForRequests({
      path: paths.controlSocket,
      origin: 'cli',
      dispatcher,
      maxConnections: MAX_CLI_CONNECTIONS,
      ownership: { uid: 0, gid: 0, mode: 0o600 },
      logger,
    }),
    listenForRequests({
      path: paths.apiSocket,
      origin: 'api',
      dispatcher,
      maxConnections: MAX_API_CONNECTIONS,
      ownership: { uid: 0, gid: apiAccount.gid, mode: 0o660 },
      logger,
    }),
  ]);

  // The fault watch looks at once when a child starts or exits: a killed one is logged then, not at the next tick.
  const childChanged = () => faultWatch?.check();
  const childRecords = {
    record: (name: string, pid: number) => recordChild(paths.childrenDir, name, pid),
    forget: (name: string) => forgetChild(paths.childrenDir, name),
  };
  sshd = superviseChild(
    'sshd',
    () =>
      startChild(SSHD, ['-D', '-e', '-f', paths.sshdConfig], {
        env: { ...SSHD_ENVIRONMENT },
        onStderrLine: (line) => {
          const login = parseAcceptedKeyLogin(line);
          if (login) keyLogins.record(login, new Date());
        },
      }),
    logger,
    childChanged,
    childRecords,
  );
  // The API connects to its socket at start and exits when that connection ends: it is then started again.
  const api = superviseChild(
    'api',
    () => startChild(API_ENTRY, [], { env: childEnvironment(config), ...apiAccount, isNodeScript: true }),
    logger,
    childChanged,
    childRecords,
  );
  // What root can see of the machine's faults: logged once per episode, pushed to the API, written for the healthcheck.
  faultWatch = startFaultWatch({
    stateProbePath: `${paths.runDir}/.fault-probe`,
    backupDir: config.backupDir,
    sshd: () => sshd ?? undefined,
    api: () => api,
    logger,
    onChange(faults) {
      dispatcher.push('api', { type: 'report', faults });
      void liveness.writeReport();
    },
  });
  faultWatch.check();
  const checkTimer = setInterval(() => {
    liveness.track('check-schedule', checks.tick()).catch((error: unknown) => logger.error({ err: error }, 'repository check failed'));
  }, CHECK_SCHEDULE_INTERVAL_MS);
  const watch = createRepositoryWatch({
    db,
    keyLogins,
    backupDir: config.backupDir,
    logger,
    now: () => new Date(),
    requestReconcile: reconcileNow,
    serverAccounts,
    ownPids: checks.ownPids,
    processTable,
  });
  repositoryWatch = watch;
  let watchLooks = 0;
  // sshd has no per-user session limit without PAM: the newest sessions beyond a host's cap are ended.
  const checkSessionLimit = () => {
    try {
      sessionLimit.check();
      liveness.passCompleted('session-limit');
    } catch (error) {
      logger.error({ err: error }, 'session limit check failed');
    }
  };
  // One timer for both: the session limit's look (every SESSION_LIMIT_INTERVAL_MS) comes right after the
  // repository watch's pass over /proc in the same tick, and uses it instead of a pass of its own.
  const watchTimer = setInterval(() => {
    const look = watchLooks++;
    const sweep = look % REPOSITORY_WATCH_SWEEP_EVERY === 0;
    const isSessionLimitDue = look % SESSION_LIMIT_EVERY_LOOKS === 0;
    // Idle (no connection to sshd, nothing seen at the last look): no /proc scan until a sweep or a connection.
    if (!sweep && quietLooks.canSkip()) {
      liveness.passCompleted('repository-watch');
      if (isSessionLimitDue) liveness.passCompleted('session-limit');
      return;
    }
    liveness
      .track(
        'repository-watch',
        watch.check({ sweep }).then((watched) => quietLooks.looked(watched.length)),
      )
      .catch((error: unknown) => {
        quietLooks.wake();
        logger.error({ err: error }, 'repository watch failed');
      });
    if (isSessionLimitDue) checkSessionLimit();
  }, REPOSITORY_WATCH_INTERVAL_MS);
  const reportTimer = setInterval(() => {
    try {
      reports.flush();
      liveness.passCompleted('reports');
    } catch (error) {
      logger.error({ err: error }, 'could not read the reports for the API');
    }
  }, REPORT_FLUSH_INTERVAL_MS);
  // Root's own copies of the server state, into the backup volume: a failed one is logged, never fatal.
  const stateCopies = startScheduledStateCopies({
    stateDir: config.stateDir,
    backupDir: config.backupDir,
    intervalSeconds: config.stateBackupIntervalSeconds,
    keep: config.stateBackupKeep,
    apiAccount,
    serverVersion: readServerVersion(),
    logger: logger.child({ part: 'state-copies' }),
    run,
    now: () => new Date(),
  });
  // A full pass now and then, beside the passes for one host: rows, account files and key files all compared again.
  const fullReconcileTimer = setInterval(() => {
    liveness.track('full-reconcile', reconcileNow()).catch((error: unknown) => logger.error({ err: error }, 'reconcile failed'));
  }, FULL_RECONCILE_INTERVAL_MS);
  // From here on, a loop that never completes a pass is late: however long the start-up above took.
  liveness.loopsStarted();
  // SIGHUP: check every file against the disk again, not only what changed.
  process.on('SIGHUP', () => {
    memory = createReconcileMemory();
    reconcileNow().catch((error: unknown) => logger.error({ err: error }, 'reconcile failed'));
  });

  await new Promise<void>((resolve) => {
    const stop = () => {
      logger.info('stopping');
      clearInterval(watchTimer);
      clearInterval(reportTimer);
      clearInterval(checkTimer);
      clearInterval(fullReconcileTimer);
      clearTimeout(windowEndTimer);
      liveness.stop();
      faultWatch?.stop();
      for (const socket of requestSockets) socket.close();
      stopWatchingTls();
      // sshd's per-connection processes outlive the listener (each in a session of its own): end them too.
      const listenerPid = sshd?.current()?.pid;
      const connections = listenerPid === undefined ? [] : childProcesses(listenerPid);
      Promise.all([api.stop(STOP_GRACE_MS), sshd?.stop(STOP_GRACE_MS), checks.stop(), stateCopies.stop()])
        .then(() => dispatcher.closeAll())
        .then(() => endHostSessions(serverAccounts))
        .then(() => endProcessesAndWait(connections, { graceMs: SESSION_GRACE_MS, timeoutMs: STOP_GRACE_MS }))
        .then(() => {
          db.$client.close();
          resolve();
        });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
