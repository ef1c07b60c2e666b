import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { listHostChecks } from '../../api/hosts/host-checks.js';
import {
  createOrRekeyHost,
  deleteHost,
  getHost,
  type HostView,
  hostSessions,
  listHostPage,
  type PutKeyOutcome,
  updateHost,
} from '../../api/hosts/hosts.js';
import { hostNameKey, integerIdKey } from '../../api/list-pages.js';
import { acknowledgeMaintenance } from '../../api/maintainers/maintainers.js';
import { loadConfig, statePaths } from '../../config.js';
import { AppError } from '../../errors.js';
import { findLiveHost } from '../../host-records/hosts-store.js';
import { createLogger } from '../../log.js';
import { run } from '../../process/run.js';
import { createServerAccounts } from '../../root/accounts/server-accounts.js';
import { createIntegrityChecks } from '../../root/checks/integrity-check.js';
import { listRestorePoints, restoreHost } from '../../root/restore/restore-host.js';
import { CLI_ACTOR, openCliContext } from '../cli-context.js';
import { requestCheckOverSocket } from '../control-socket.js';
import { addPageSizeOption, parsePageSize, readEveryPage } from '../every-page.js';
import { printJson, printOutcome, printRows } from '../output.js';
import { openRootCliContext } from '../root-cli-context.js';
import { changeHostAsRoot } from '../root-host-change.js';

/** What `hosts show` lists of the recent sessions. */
const SESSION_COLUMNS = [
  'id',
  'startedAt',
  'endedAt',
  'clientAddress',
  'outcome',
  'transactionsCommitted',
  'bytesAdded',
  'manifestRewritten',
  'uncommittedLeft',
  'endedBy',
  'maintainer',
];
const RECENT_SESSIONS = 10;

const HOST_COLUMNS = [
  'name',
  'uid',
  'status',
  'backupStatus',
  'lastBackupAt',
  'repositoryBytes',
  'appendOnly',
  'fullAccessUntil',
  'quotaBytes',
  'allowFrom',
  'maxSessions',
  'checkEverySeconds',
  'fingerprint',
  'repoUrl',
];

const CHECK_COLUMNS = ['id', 'hostName', 'startedAt', 'endedAt', 'outcome', 'detail'];

export function addHostCommands(program: Command): void {
  const hosts = program.command('hosts').description('enrolled hosts');
  addPageSizeOption(
    hosts
      .command('list')
      .description('every host, by name')
      .option('--all', 'include deleted hosts whose data is kept')
      .option('--json', 'print JSON'),
  ).action(async (options: { all?: boolean; json?: boolean; pageSize: string }) => {
    const pageSize = parsePageSize(options.pageSize);
    const context = await openCliContext();
    const includeDeleted = options.all ?? false;
    const rows = readEveryPage((request) => listHostPage(context, { ...request, includeDeleted }), 'hosts', hostNameKey, pageSize);
    printRows(rows as unknown as Record<string, unknown>[], HOST_COLUMNS, options.json ?? false);
  });
  hosts
    .command('show <name>')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      const host = getHost(context, name);
      const { sessions } = hostSessions(context, name, { limit: RECENT_SESSIONS });
      if (options.json) {
        printRows([{ ...host, sessions }], [], true);
        return;
      }
      printRows(
        [host as unknown as Record<string, unknown>],
        [...HOST_COLUMNS, 'lastSessionAt', 'quotaUse', 'expectBackupEverySeconds', 'stale'],
        false,
      );
      if (host.maintainers.length > 0) process.stdout.write(`\nmaintainers: ${host.maintainers.join(', ')}\n`);
      if (host.maintenanceHold)
        process.stdout.write(`\nmaintainers held out since ${host.maintenanceHold.since.toISOString()}: ${host.maintenanceHold.reason}\n`);
      process.stdout.write('\nrecent sessions (newest first):\n');
      printRows(sessions as unknown as Record<string, unknown>[], SESSION_COLUMNS, false);
    });
  for (const [command, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    // Root's side alone: disabling a host works whatever state the API (and its database) is in.
    hosts
      .command(`${command} <name>`)
      .option('--json', 'print JSON')
      .action(async (name: string, options: { json?: boolean }) => {
        const status = disabled ? 'disabled' : 'active';
        await changeHostAsRoot(loadConfig(), { action: 'set', name, fields: { status } }, CLI_ACTOR.actor);
        printOutcome(options.json ?? false, { name, status }, `host ${name} ${disabled ? 'disabled' : 'enabled'}`);
      });
  }
  hosts
    .command('acknowledge <name>')
    .description('let its maintainers back after its own key deleted or pruned (look at its sessions first)')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      const { wasHeld } = await acknowledgeMaintenance(context, name, CLI_ACTOR);
      printOutcome(
        options.json ?? false,
        { name, wasHeld },
        wasHeld ? `host ${name}: its maintainers may reach it again` : `host ${name} was not held`,
      );
    });
  hosts
    .command('set <name>')
    .description("change a host's quota, source range, session cap, append-only mode or ping URL")
    .option('--quota <size>', 'storage quota, e.g. 500G ("none" removes it)')
    .option(
      '--allow-from <cidrs>',
      'the addresses or CIDR ranges it may connect from, comma-separated, e.g. 192.0.2.0/24,2001:db8::/32 ("none": anywhere)',
    )
    .option('--max-sessions <count>', 'SSH sessions it may have open at once (default 2); the newest beyond are ended')
    .option('--append-only', 'it can add archives but never delete data (the default)')
    .option('--no-append-only', 'it can delete and compact its own archives for good')
    .option('--ping-url <url>', 'a push monitor to call after each backup, URL/fail after a failed one ("none" removes it)')
    .option('--check-every <duration>', 'how often the server checks its repository (default 7d; "none": never on a schedule)')
    .option('--expect-backup-every <duration>', 'stale after this long without a backup, e.g. 26h (the default), 7d ("default" resets it)')
    .option('--json', 'print JSON: the host as it is now')
    .action(
      async (
        name: string,
        options: {
          quota?: string;
          allowFrom?: string;
          maxSessions?: string;
          appendOnly?: boolean;
          pingUrl?: string;
          expectBackupEvery?: string;
          checkEvery?: string;
          json?: boolean;
        },
      ) => {
        const changes = {
          ...(options.quota === undefined ? {} : { quota: options.quota === 'none' ? null : options.quota }),
          ...(options.allowFrom === undefined ? {} : { allowFrom: options.allowFrom === 'none' ? null : options.allowFrom }),
          ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
          ...(options.appendOnly === undefined ? {} : { appendOnly: options.appendOnly }),
          ...(options.pingUrl === undefined ? {} : { pingUrl: options.pingUrl === 'none' ? null : options.pingUrl }),
          ...(options.expectBackupEvery === undefined
            ? {}
            : { expectBackupEvery: options.expectBackupEvery === 'default' ? null : options.expectBackupEvery }),
          ...(options.checkEvery === undefined ? {} : { checkEvery: options.checkEvery }),
        };
        if (Object.keys(changes).length === 0)
          throw new AppError(
            'BAD_REQUEST',
            'nothing to change: give --quota, --allow-from, --max-sessions, --[no-]append-only, --ping-url or --expect-backup-every',
          );
        const context = await openCliContext();
        const host = await updateHost(context, name, changes, CLI_ACTOR);
        if (options.json) printJson(host);
        else printRows([host as unknown as Record<string, unknown>], HOST_COLUMNS, false);
      },
    );
  hosts
    .command('check <name>')
    .description("check the host's repository now (borg check --repository-only, as the host) and print the outcome")
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const context = openRootCliContext();
      const { config } = context;
      if (!findLiveHost(context.db, name)) throw new AppError('NOT_FOUND', `no host named "${name}"`);
      // The running server checks (one check at a time for the server); with none running, this process does.
      const logger = createLogger(config.logLevel, 'check');
      const result =
        (await requestCheckOverSocket(statePaths(config.stateDir).controlSocket, name)) ??
        (await createIntegrityChecks({
          db: context.db,
          backupDir: config.backupDir,
          stateDir: config.stateDir,
          logger,
          now: context.now,
          run,
          serverAccounts: createServerAccounts({ backupDir: config.backupDir, logger }),
        }).checkNow(name));
      printRows([result as Record<string, unknown>], CHECK_COLUMNS, options.json ?? false);
      const { outcome } = result as { outcome: string };
      if (outcome !== 'ok') process.exitCode = outcome === 'failed' ? 1 : 2;
    });
  addPageSizeOption(
    hosts
      .command('checks <name>')
      .description("the server's kept checks of the host's repository, newest first")
      .option('--json', 'print JSON'),
  ).action(async (name: string, options: { json?: boolean; pageSize: string }) => {
    const pageSize = parsePageSize(options.pageSize);
    const context = await openCliContext();
    const checks = readEveryPage((request) => listHostChecks(context, name, request), 'checks', integerIdKey, pageSize);
    printRows(checks as unknown as Record<string, unknown>[], CHECK_COLUMNS, options.json ?? false);
  });
  hosts
    .command('full-access <name>')
    .description('let an append-only host prune and compact its own repository for a while')
    .option('--for <duration>', 'how long (e.g. 2h; at most 7d); then --append-only is back and open sessions end')
    .option('--end', 'end the window now')
    .option('--json', 'print JSON: the host as it is now')
    .action(async (name: string, options: { for?: string; end?: boolean; json?: boolean }) => {
      if ((options.for === undefined) === !options.end) throw new AppError('BAD_REQUEST', 'give either --for DURATION or --end');
      const context = await openCliContext();
      const wasOpen = getHost(context, name).fullAccessUntil !== null;
      const host = await updateHost(context, name, { fullAccessFor: options.end ? null : options.for }, CLI_ACTOR);
      printOutcome(options.json ?? false, host, fullAccessOutcome(host, wasOpen));
    });
  hosts
    .command('restore <name>')
    .description("undo what an append-only host wrote after a time: a compromised VM's delete, prune or junk")
    .option('--before <time>', 'roll back to the last commit before this time (ISO 8601, e.g. 2026-11-27T03:00:00Z)')
    .option('--list', 'list the commits to choose from, newest first')
    .option('--json', 'print JSON: the commits (--list), or what the restore did')
    .action(async (name: string, options: { before?: string; list?: boolean; json?: boolean }) => {
      const context = openRootCliContext();
      const serverAccounts = createServerAccounts({
        backupDir: context.config.backupDir,
        logger: createLogger(context.config.logLevel, 'restore'),
      });
      if (options.list || !options.before) {
        printRows(
          listRestorePoints(context, serverAccounts, name) as unknown as Record<string, unknown>[],
          ['id', 'committedAt'],
          options.json ?? false,
        );
        if (!options.list) throw new AppError('BAD_REQUEST', 'give --before TIME to restore (the commits are listed above)');
        return;
      }
      const before = new Date(options.before);
      if (Number.isNaN(before.getTime())) throw new AppError('BAD_REQUEST', `--before: "${options.before}" is not a time`);
      const result = await restoreHost(context, serverAccounts, name, before, CLI_ACTOR);
      if (options.json) {
        printJson({ name, ...result });
        return;
      }
      process.stderr.write(
        `restored ${name} to commit ${result.transaction.id} of ${result.transaction.committedAt.toISOString()}; ` +
          `${result.removedFiles} newer files removed${result.configRestored ? '; the repository config (and key) from before put back' : ''}; ` +
          `the state before is kept in ${result.keptCopy}; ` +
          (result.lastBackupAt
            ? `its last backup is now the one of ${result.lastBackupAt.toISOString()}\n`
            : 'it holds no backup the server saw: it shows as never backed up\n'),
      );
    });
  hosts
    .command('delete <name>')
    .description('remove the account and key; the repository is kept unless --purge')
    .option('--purge', 'also delete the repository')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { purge?: boolean; json?: boolean }) => {
      const context = await openCliContext();
      await deleteHost(context, name, { purge: options.purge ?? false }, CLI_ACTOR);
      printOutcome(
        options.json ?? false,
        { name, status: options.purge ? 'purged' : 'deleted' },
        `host ${name} deleted${options.purge ? ' with its data' : '; its repository is kept'}`,
      );
    });
}

/** What `hosts full-access` did, as a plain statement. */
function fullAccessOutcome(host: HostView, wasOpen: boolean): string {
  if (host.fullAccessUntil) return `host ${host.name} has full access (prune, compact) until ${host.fullAccessUntil.toISOString()}`;
  if (!host.appendOnly) return `host ${host.name} is not append-only: it has full access with no window to end (hosts set --append-only)`;
  return wasOpen
    ? `ended the full-access window of host ${host.name}; it is append-only again`
    : `host ${host.name} had no full-access window open; it stays append-only`;
}

/** What `createuser` did, as its first line says it (the ancestor's "User NAME created" when it created one). */
function createuserOutcome(host: HostView, previous: PutKeyOutcome['previous']): string {
  const stillDisabled = host.status === 'disabled' ? ` (it is disabled: \`borgctl hosts enable ${host.name}\` lets it in)` : '';
  if (previous === null) return `User ${host.name} created`;
  if (previous.status === 'deleted') return `User ${host.name} created again with its kept repository`;
  if (previous.fingerprint === host.fingerprint) return `User ${host.name} already had this key${stillDisabled}`;
  return `User ${host.name} re-keyed: its key is now ${host.fingerprint} (was ${previous.fingerprint})${stillDisabled}`;
}

/** The ancestor's commands, kept so existing runbooks work. */
export function addAncestorCommands(program: Command): void {
  program
    .command('createuser <name> <key>')
    .description('create a host with this public key, or give an existing host this key ("-" reads the key from stdin)')
    .option('--json', 'print JSON: the host, and what it was before (null: it is new)')
    .action(async (name: string, key: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      const publicKey = key === '-' ? readFileSync(0, 'utf8') : key;
      const { host, previous } = await createOrRekeyHost(context, name, publicKey, CLI_ACTOR);
      if (options.json) {
        printJson({ host, previous });
        return;
      }
      process.stdout.write(`${createuserOutcome(host, previous)}, backup path is ${host.repository}\n`);
      process.stderr.write(`repository URL: ${host.repoUrl}\n`);
    });
  program
    .command('deluser <name>')
    .description('remove a host account and its key; the repository is kept')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      await deleteHost(context, name, { purge: false }, CLI_ACTOR);
      if (options.json) {
        printJson({ name, status: 'deleted', repository: `${context.config.backupDir}/${name}` });
        return;
      }
      process.stdout.write(`User ${name} deleted; data kept in ${context.config.backupDir}/${name}\n`);
    });
}
