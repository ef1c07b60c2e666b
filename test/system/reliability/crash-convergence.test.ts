import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scaled } from '../../support/long-tests.js';
import type { Sandbox, SandboxProcessInfo } from '../../support/sandbox.js';
import {
  LOOPBACK_RECEIVERS_ALLOWED,
  type ServerApi,
  type ServerSandbox,
  startServerSandbox,
  stopServerSandbox,
} from '../../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../../support/sandbox-client.js';
import { createSeededRandom, seedFrom } from '../../support/seeded-random.js';
import { type ApiState, accountLines, type RootState, readApiState, readRootState } from '../../support/server-state.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Issue 18, part 1: a crash at any moment converges. Each trial starts one
 * change of a host (approve, re-key, disable, delete, purge, full-access
 * window, restore) over the admin HTTP API or borgctl, kills -9 the
 * supervisor or the API child after a random delay, restarts, and checks the
 * result against the state before: accounts, key files, sshd_config and
 * repository directories match root's rows; no pending enrollment, unused
 * token or queued webhook delivery is lost; no repository byte changed but
 * by a purge or restore that completed; every host active before and after
 * logs in and backs up. Meanwhile a client logs in again and again and must
 * never be refused for a half-written file. The seed is printed; replay a
 * run with BORG_CRASH_SEED=SEED (and BORG_CRASH_TRIALS=N to stop sooner).
 */

const TRIALS = Number(process.env.BORG_CRASH_TRIALS ?? scaled({ short: 20, long: 100 }));
const SEED = seedFrom(process.env.BORG_CRASH_SEED);

/** Between two logins of the background client. */
const LOGIN_PAUSE_MS = 300;

type Operation = 'approve' | 'rekey' | 'disable' | 'delete' | 'purge' | 'full-access' | 'restore';
type KillTarget = 'supervisor' | 'api';

interface TestHost {
  name: string;
  /** Every key it had: the one root's row names is the one that logs in. */
  clients: BorgClient[];
  /** Set just before its newest backup started: a restore to before it undoes that backup. */
  lastBackupStartedAt?: Date;
  /** Backups made since the repository was made (a restore needs one to undo and one before it). */
  backups: number;
  /** Never changed by a trial: must log in throughout. */
  isKept: boolean;
}

interface PreparedChange {
  operation: Operation;
  host: TestHost;
  via: 'http' | 'cli';
  /** Starts the change; resolves (never rejects) with what the caller saw. */
  start(): Promise<string>;
  enrollmentId?: string;
}

const isSshdListener = (info: SandboxProcessInfo) => info.name === 'sshd' && info.commandLine.includes('[listener]');
const isApiChild = (info: SandboxProcessInfo) => info.commandLine.endsWith('/api/main.js');

async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** A webhook receiver that always answers 503: deliveries stay queued for their retries. */
function startRefusingReceiver(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_request, response) => response.writeHead(503).end());
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/hook`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

/** What a login attempt of the background client says, classified. */
type LoginOutcome = 'ok' | 'server-down' | 'refused' | 'malformed';
const SERVER_DOWN =
  /Connection refused|Connection reset|Connection closed|kex_exchange_identification|Broken pipe|timed out|closed by remote host/i;
const MALFORMED = /invalid format|Bad configuration|bad ownership|error in libcrypto|could not parse|line \d+:/i;

function classifyLogin(result: { exitCode: number | undefined; stderr: string }): LoginOutcome {
  if (MALFORMED.test(result.stderr)) return 'malformed';
  if (result.exitCode === 0) return 'ok';
  if (/Permission denied/.test(result.stderr)) return 'refused';
  if (SERVER_DOWN.test(result.stderr)) return 'server-down';
  return 'malformed';
}

/** What sshd (and serve) must never log: a file read half-written or with the wrong owner. */
const SERVER_LOG_DEFECTS =
  /Authentication refused|bad ownership or modes|Bad configuration option|invalid format|Invalid user keep|terminating, \d+ bad configuration/i;

describe('a crash at any moment converges', () => {
  let server: ServerSandbox | undefined;
  const clients: BorgClient[] = [];
  let receiver: Awaited<ReturnType<typeof startRefusingReceiver>> | undefined;
  const serverOutputs: string[] = [];

  beforeEach(async () => {
    receiver = await startRefusingReceiver();
    // The webhook that must survive every crash has its receiver on loopback, allowed as an admin would.
    server = await startServerSandbox({}, LOOPBACK_RECEIVERS_ALLOWED);
  }, 120_000);

  afterEach(async (context) => {
    for (const client of clients) await client.remove();
    await receiver?.close();
    await stopServerSandbox(server, context);
  }, 120_000);

  it(`converges after kill -9 of the supervisor or the API child in ${TRIALS} random trials`, async () => {
    const { sandbox } = server as ServerSandbox;
    const api: ServerApi = (server as ServerSandbox).api;
    const random = createSeededRandom(SEED);
    console.log(`crash-convergence: seed ${SEED} (replay with BORG_CRASH_SEED=${SEED}), ${TRIALS} trials`);
    const repositoryUrl = (name: string) => `ssh://${name}@127.0.0.1:${sandbox.sshPort}/./repo`;
    const newClient = async (name: string) => {
      const client = await createBorgClient(name);
      clients.push(client);
      await client.trustServer(sandbox.baseUrl);
      return client;
    };
    const currentClient = (host: TestHost, state: RootState) => {
      const row = state.hosts.find((candidate) => candidate.name === host.name);
      return host.clients.find((client) => client.fingerprint === row?.fingerprint);
    };
    const backUp = async (host: TestHost, client: BorgClient, label: string) => {
      host.lastBackupStartedAt = new Date();
      const result = await client.run(['create', `${repositoryUrl(host.name)}::${label}`, client.dataDir]);
      if (result.exitCode === 0) host.backups += 1;
      return result;
    };
    const enroll = async (name: string, client: BorgClient) => {
      const { token } = await api.mintEnrollmentToken();
      return api.enroll(token, name, client.publicKey);
    };
    /** Enrolled, approved, initialised and backed up once. */
    const makeHost = async (name: string, isKept: boolean): Promise<TestHost> => {
      const client = await newClient(name);
      const enrollment = await enroll(name, client);
      expect((await api.approve(enrollment.id, client.fingerprint)).status).toBe(200);
      expect(await client.run(['init', '--encryption', 'none', repositoryUrl(name)])).toMatchObject({ exitCode: 0 });
      const host: TestHost = { name, clients: [client], isKept, backups: 0 };
      expect(await backUp(host, client, 'first')).toMatchObject({ exitCode: 0 });
      return host;
    };

    // What must survive every crash untouched: two hosts that only back up, pending enrollments, unused tokens, queued deliveries.
    const webhook = await api.request('POST', '/v1/admin/webhooks', { body: { url: receiver?.url }, bearer: api.adminToken });
    expect(webhook.status).toBe(201);
    const hosts: TestHost[] = await Promise.all([
      makeHost('keep1', true),
      makeHost('keep2', true),
      makeHost('v1', false),
      makeHost('v2', false),
    ]);
    for (const name of ['pending1', 'pending2']) await enroll(name, await newClient(name));
    for (let index = 0; index < 2; index += 1) await api.mintEnrollmentToken();
    const referenceSshdConfig = (await readRootState(sandbox)).sshdConfig;
    const keptHost = hosts[0] as TestHost;

    // The client that logs in again and again, throughout: kept hosts must never be refused.
    const logins = { ok: 0, serverDown: 0, refusedAsExpected: 0, defects: [] as string[] };
    let isLooping = true;
    const purgedNames = new Set<string>();
    const loginLoop = (async () => {
      while (isLooping) {
        // The kept host, and each host changed by the trials that is not purged.
        for (const host of [keptHost, ...hosts.filter((candidate) => !candidate.isKept && !purgedNames.has(candidate.name))]) {
          if (!isLooping) break;
          for (const client of host.clients.slice(-1)) {
            const result = await client.ssh({ user: host.name, port: sandbox.sshPort }, [], { input: '', timeoutMs: 30_000 });
            const outcome = classifyLogin(result);
            if (outcome === 'ok') logins.ok += 1;
            else if (outcome === 'server-down') logins.serverDown += 1;
            else if (outcome === 'refused' && !host.isKept) logins.refusedAsExpected += 1;
            else logins.defects.push(`${host.name}: ${outcome}: ${result.stderr.trim().slice(0, 300)}`);
            // Paced, not timed: each login starts a borg serve (a Python process) the two cores share with the trials.
            await sleep(LOGIN_PAUSE_MS);
          }
        }
      }
    })();

    const supervisorPid = () => (sandbox.server as NonNullable<Sandbox['server']>).pid;
    /** One sshd listener and one API, both children of the running serve (none left from a killed one). */
    const waitForChildren = () =>
      waitFor(
        'one sshd listener and one API child, both of the running serve',
        async () => {
          const inside = await sandbox.processesInside();
          const listeners = inside.filter(isSshdListener);
          const apis = inside.filter(isApiChild);
          if (listeners.length !== 1 || apis.length !== 1) return undefined;
          const parents = await Promise.all([...listeners, ...apis].map((info) => parentPid(info.pid)));
          return parents.every((pid) => pid === supervisorPid()) ? { api: apis[0] as SandboxProcessInfo } : undefined;
        },
        60_000,
      );
    const healthy = () =>
      waitFor(
        '/healthz to answer 200',
        async () => {
          const response = await fetch(`${sandbox.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
          return response?.ok ? true : undefined;
        },
        60_000,
      );

    const counts = { supervisor: 0, api: 0, checks: 0, completedChanges: 0 };
    for (let trial = 1; trial <= TRIALS; trial += 1) {
      const trialStartedAt = Date.now();
      await waitForChildren();
      const killTarget: KillTarget = random.next() < 0.5 ? 'supervisor' : 'api';
      const before = await readRootState(sandbox);
      const prepared = await prepare(trial, killTarget, before);
      // Read after the preparation (an enrollment made for this trial is pending before it).
      const rootBefore = await readRootState(sandbox);
      const apiBefore = await readApiState(sandbox);
      // borgctl takes about a second to start in the sandbox; a change over HTTP is done in well under 100 ms.
      const delayMs = prepared.via === 'cli' ? random.integer(200, 1400) : random.integer(0, 80);
      const preparedAt = Date.now();
      const change = prepared.start();
      // The random delay is the experiment: the kill lands before, during or after the change.
      await sleep(delayMs);
      const killedPid = killTarget === 'supervisor' ? supervisorPid() : (await waitForChildren()).api.pid;
      process.kill(killedPid, 'SIGKILL');
      counts[killTarget] += 1;
      const answer = await change;
      if (killTarget === 'supervisor') {
        const killed = sandbox.server as NonNullable<Sandbox['server']>;
        await killed.exited;
        serverOutputs.push(killed.output());
        await sandbox.startServer();
      }
      await waitForChildren();
      await healthy();
      const readyAt = Date.now();
      const failures = await checkConvergence(trial, prepared, rootBefore, apiBefore);
      const rootAfter = await readRootState(sandbox);
      const row = rootAfter.hosts.find((candidate) => candidate.name === prepared.host.name);
      for (const host of hosts) if (!rootAfter.hosts.some((candidate) => candidate.name === host.name)) purgedNames.add(host.name);
      console.log(
        `trial ${trial}: ${prepared.operation} ${prepared.host.name} via ${prepared.via}, kill ${killTarget} after ${delayMs} ms: ` +
          `${answer}; host now ${row?.status ?? 'gone'}; ${preparedAt - trialStartedAt}+${readyAt - preparedAt}+${Date.now() - readyAt} ms; ${failures.length === 0 ? 'converged' : `NOT CONVERGED: ${failures.join('; ')}`}`,
      );
      if (failures.length > 0) throw new Error(`trial ${trial} (seed ${SEED}) did not converge:\n${failures.join('\n')}`);
      counts.checks += 1;
      expect(logins.defects).toEqual([]);
    }
    isLooping = false;
    await loginLoop;
    const finalState = await readRootState(sandbox);
    const finalBackups = await Promise.all(
      hosts
        .filter((host) => finalState.hosts.find((row) => row.name === host.name)?.status === 'active')
        .map(async (host) => {
          const client = currentClient(host, finalState);
          const result = client ? await backUp(host, client, 'final') : undefined;
          return { host: host.name, exitCode: result?.exitCode, stderr: result?.stderr.slice(-300) };
        }),
    );
    expect(finalBackups.filter((backup) => backup.exitCode !== 0)).toEqual([]);
    serverOutputs.push(sandbox.server?.output() ?? '');
    const logDefects = serverOutputs.flatMap((output) => output.split('\n').filter((line) => SERVER_LOG_DEFECTS.test(line)));
    console.log(
      `crash-convergence summary: ${TRIALS} trials (seed ${SEED}), kill -9 of the supervisor ${counts.supervisor}, of the API child ${counts.api}; ` +
        `${counts.checks}/${TRIALS} convergence checks passed; background logins: ${logins.ok} ok, ${logins.serverDown} while the server was down, ` +
        `${logins.refusedAsExpected} refused for a changed host, ${logins.defects.length} defects; sshd/serve log defects: ${logDefects.length}`,
    );
    expect(logins.defects).toEqual([]);
    expect(logDefects).toEqual([]);

    // ── the trial's change ──

    async function prepare(trial: number, killTarget: KillTarget, state: RootState): Promise<PreparedChange> {
      const rowOf = (host: TestHost) => state.hosts.find((row) => row.name === host.name);
      const victims = hosts.filter((host) => !host.isKept && rowOf(host) !== undefined);
      const activeVictims = victims.filter((host) => rowOf(host)?.status === 'active');
      // Disabled victims are enabled again so that there is something to change (not a trial).
      for (const host of victims.filter((candidate) => rowOf(candidate)?.status === 'disabled')) {
        await sandbox.borgctl(['hosts', 'enable', host.name]);
      }
      const choices: Operation[] = [];
      if (activeVictims.length + victims.filter((host) => rowOf(host)?.status === 'disabled').length < 3)
        choices.push('approve', 'approve');
      if (activeVictims.length > 0) choices.push('rekey', 'disable', 'delete', 'full-access');
      const restorable = activeVictims.filter((host) => host.backups >= 2);
      if (restorable.length > 0) choices.push('restore');
      if (victims.length > 0) choices.push('purge');
      const operation = random.pick(choices);
      const via: 'http' | 'cli' = killTarget === 'api' || random.next() < 0.5 ? 'http' : 'cli';
      const cli = (arguments_: string[]) => async () => {
        const result = await sandbox.borgctl(arguments_, { reject: false, timeoutMs: 120_000 });
        return result.exitCode === 0
          ? 'borgctl succeeded'
          : `borgctl failed (${(result.stderr.trim().split('\n').pop() ?? '').slice(0, 160)})`;
      };
      const http = (method: string, path: string, body?: unknown) => async () => {
        try {
          const response = await api.request(method, path, { bearer: api.adminToken, ...(body === undefined ? {} : { body }) });
          return `HTTP ${response.status}`;
        } catch (error) {
          return `HTTP failed (${(error as Error).message})`;
        }
      };
      const enabledVictims = () => victims.filter((host) => ['active', 'disabled'].includes(rowOf(host)?.status ?? ''));
      switch (operation) {
        case 'approve': {
          const host: TestHost = { name: `t${trial}`, clients: [], isKept: false, backups: 0 };
          const client = await newClient(host.name);
          host.clients.push(client);
          const enrollment = await enroll(host.name, client);
          hosts.push(host);
          const start =
            via === 'http'
              ? http('POST', `/v1/admin/enrollments/${enrollment.id}/approve`, { fingerprint: client.fingerprint })
              : cli(['enrollments', 'approve', enrollment.id, '--fingerprint', client.fingerprint]);
          return { operation, host, via, start, enrollmentId: enrollment.id };
        }
        case 'rekey': {
          const host = random.pick(activeVictims);
          const client = await newClient(host.name);
          host.clients.push(client);
          if (via === 'cli') return { operation, host, via, start: cli(['createuser', host.name, client.publicKey]) };
          const enrollment = await enroll(host.name, client);
          const start = http('POST', `/v1/admin/enrollments/${enrollment.id}/approve`, {
            fingerprint: client.fingerprint,
            replaceKey: true,
          });
          return { operation, host, via, start, enrollmentId: enrollment.id };
        }
        case 'disable': {
          const host = random.pick(activeVictims);
          const start =
            via === 'http' ? http('PATCH', `/v1/admin/hosts/${host.name}`, { disabled: true }) : cli(['hosts', 'disable', host.name]);
          return { operation, host, via, start };
        }
        case 'delete':
        case 'purge': {
          const host = random.pick(operation === 'delete' ? enabledVictims() : victims);
          const start =
            via === 'http'
              ? http('DELETE', `/v1/admin/hosts/${host.name}${operation === 'purge' ? '?purge=true' : ''}`)
              : cli(['hosts', 'delete', host.name, ...(operation === 'purge' ? ['--purge'] : [])]);
          return { operation, host, via, start };
        }
        case 'full-access': {
          const host = random.pick(activeVictims);
          const start =
            via === 'http'
              ? http('PATCH', `/v1/admin/hosts/${host.name}`, { fullAccessFor: '1h' })
              : cli(['hosts', 'full-access', host.name, '--for', '1h']);
          return { operation, host, via, start };
        }
        case 'restore': {
          // Undoes the host's newest backup. Only borgctl restores (root's side, in the command's own process).
          const host = random.pick(restorable);
          const before = (host.lastBackupStartedAt as Date).toISOString();
          return { operation, host, via: 'cli', start: cli(['hosts', 'restore', host.name, '--before', before]) };
        }
      }
    }

    // ── the checks after the restart ──

    async function checkConvergence(
      trialNumber: number,
      prepared: PreparedChange,
      rootBefore: RootState,
      apiBefore: ApiState,
    ): Promise<string[]> {
      const failures: string[] = [];
      // The API's copy follows root's rows through root's reports, which wait for it on root's side.
      const converged = await waitFor(
        "the API's copy of the hosts to follow root's rows, and root's reports to be acknowledged",
        async () => {
          const root = await readRootState(sandbox);
          const apiState = await readApiState(sandbox);
          const rootRows = root.hosts.map((row) => `${row.name}:${row.status}:${row.fingerprint}:${row.uid}`).sort();
          const apiRows = apiState.hosts.map((row) => `${row.name}:${row.status}:${row.fingerprint}:${row.uid}`).sort();
          return JSON.stringify(rootRows) === JSON.stringify(apiRows) && root.pendingReports === 0 ? { root, apiState } : undefined;
        },
        60_000,
      ).catch((error: Error) => {
        failures.push(error.message);
        return undefined;
      });
      const root = converged?.root ?? (await readRootState(sandbox));
      const apiAfter = converged?.apiState ?? (await readApiState(sandbox));
      const now = Date.now();
      const rowByName = new Map(root.hosts.map((row) => [row.name, row]));
      const withAccount = root.hosts.filter((row) => row.status === 'active' || row.status === 'disabled');
      const active = root.hosts.filter((row) => row.status === 'active');

      for (const row of root.hosts) if (row.status === 'purging') failures.push(`${row.name} is still purging`);
      // Accounts: one per active or disabled host, with its UID, its own group and a '*' password; none else under the backup dir.
      const passwd = accountLines(root.passwd);
      const managed = [...passwd.values()].filter((fields) => (fields[5] ?? '').startsWith(`${sandbox.backupDir}/`));
      const accountNames = managed.map((fields) => fields[0]).sort();
      const wantedNames = withAccount.map((row) => row.name).sort();
      if (JSON.stringify(accountNames) !== JSON.stringify(wantedNames)) failures.push(`accounts ${accountNames} but hosts ${wantedNames}`);
      const groups = accountLines(root.group);
      const shadow = accountLines(root.shadow);
      for (const row of withAccount) {
        const fields = passwd.get(row.name);
        if (fields && Number(fields[2]) !== row.uid) failures.push(`${row.name}: account UID ${fields[2]}, row ${row.uid}`);
        if (Number(groups.get(row.name)?.[2]) !== row.uid) failures.push(`${row.name}: no group with its UID`);
        if (shadow.get(row.name)?.[1] !== '*') failures.push(`${row.name}: no shadow line with '*'`);
      }
      const members = (groups.get('borg-hosts')?.[3] ?? '').split(',').filter(Boolean).sort();
      if (JSON.stringify(members) !== JSON.stringify(wantedNames)) failures.push(`borg-hosts members ${members}, hosts ${wantedNames}`);
      // Key files: one per active host, root:HOST 0640, its key, its repository, --append-only unless a window is open.
      const keyNames = root.keyFiles.map((file) => file.name).sort();
      const activeNames = active.map((row) => row.name).sort();
      if (JSON.stringify(keyNames) !== JSON.stringify(activeNames)) failures.push(`key files ${keyNames}, active hosts ${activeNames}`);
      for (const file of root.keyFiles) {
        const row = rowByName.get(file.name);
        if (!row) continue;
        if (file.uid !== 0 || file.gid !== row.uid || file.mode !== '640')
          failures.push(`${file.name}: key file ${file.uid}:${file.gid} ${file.mode}`);
        const isAppendOnly = row.appendOnly && !(row.fullAccessUntil !== null && row.fullAccessUntil > now);
        const isRight =
          file.content.split('\n').length === 1 &&
          file.content.endsWith(` ${row.keyType} ${row.keyBase64} ${row.name}`) &&
          file.content.includes(`--restrict-to-repository ${sandbox.backupDir}/${row.name}/repo`) &&
          file.content.includes('--append-only') === isAppendOnly;
        if (!isRight) failures.push(`${file.name}: key line does not match its row: ${file.content}`);
      }
      if (root.sshdConfig !== referenceSshdConfig) failures.push('sshd_config differs from the one written at the start');
      // Directories: each has its host (a deleted host keeps its data), and each host that keeps data has one.
      for (const entry of root.backupEntries) if (!rowByName.has(entry)) failures.push(`${sandbox.backupDir}/${entry} has no host`);
      for (const row of root.hosts) {
        if (row.status !== 'purging' && !root.backupEntries.includes(row.name)) failures.push(`${row.name} has no directory`);
      }

      // Nothing of the API's lost: pending enrollments (but the one approved), unused tokens, queued deliveries.
      const enrollmentsAfter = new Map(apiAfter.enrollments.map((enrollment) => [enrollment.id, enrollment]));
      for (const enrollment of apiBefore.enrollments.filter((candidate) => candidate.status === 'pending')) {
        const after = enrollmentsAfter.get(enrollment.id);
        const hostRow = rowByName.get(enrollment.host);
        const isThisTrials = enrollment.id === prepared.enrollmentId;
        const hasHost = hostRow?.status === 'active' && hostRow.fingerprint === enrollment.fingerprint;
        if (after?.status === 'pending' && isThisTrials && hasHost && hostRow?.enrollmentId === enrollment.id) {
          failures.push(`enrollment ${enrollment.id} is still pending, yet root made its host`);
        } else if (after?.status === 'approved' && isThisTrials) {
          if (!hasHost) failures.push(`enrollment ${enrollment.id} approved, but root has no active host with its key`);
        } else if (after?.status !== 'pending') {
          failures.push(`pending enrollment ${enrollment.id} is ${after?.status ?? 'gone'}`);
        }
      }
      const tokensAfter = new Map(apiAfter.tokens.map((token) => [token.jti, token.status]));
      for (const token of apiBefore.tokens.filter((candidate) => candidate.status === 'issued')) {
        if (tokensAfter.get(token.jti) !== 'issued') failures.push(`unused token ${token.jti} is ${tokensAfter.get(token.jti) ?? 'gone'}`);
      }
      const deliveriesAfter = new Set(apiAfter.deliveries.map((delivery) => delivery.id));
      for (const delivery of apiBefore.deliveries) if (!deliveriesAfter.has(delivery.id)) failures.push(`delivery ${delivery.id} is gone`);

      // Repository bytes: unchanged, but by a purge or restore of this trial's host that completed.
      const target = prepared.host.name;
      for (const [name, files] of rootBefore.repositories) {
        const after = root.repositories.get(name);
        const changed = [...files].filter(([path, sum]) => after?.get(path) !== sum).map(([path]) => path);
        const added = [...(after ?? new Map<string, string>()).keys()].filter((path) => !files.has(path));
        if (changed.length === 0 && added.length === 0) continue;
        if (name === target && prepared.operation === 'purge' && !rowByName.has(name) && !root.backupEntries.includes(name)) continue;
        if (name === target && prepared.operation === 'restore' && after) {
          const problem = await restoredRepositoryProblem(name, files, after);
          if (problem === null) {
            prepared.host.backups -= 1;
            // The client's cache and security files remember the undone backup: a restored host's client starts afresh.
            for (const client of prepared.host.clients)
              await rm(client.environment.BORG_BASE_DIR as string, { recursive: true, force: true });
            continue;
          }
          failures.push(`${name}: ${problem}`);
          continue;
        }
        failures.push(
          `${name}: repository changed (${changed.slice(0, 5).join(', ')}${added.length ? `; added ${added.slice(0, 5).join(', ')}` : ''})`,
        );
      }
      if (failures.length > 0) return failures;

      // Every host active before and after logs in; the trial's host and one kept host (in turn) back up too,
      // and every active host backs up at the end (borg costs seconds of CPU per run: all of them each trial would not fit).
      const activeBefore = new Set(rootBefore.hosts.filter((row) => row.status === 'active').map((row) => row.name));
      const keptInTurn = hosts.filter((host) => host.isKept)[trialNumber % 2];
      const results = await Promise.all(
        hosts
          .filter((host) => rowByName.get(host.name)?.status === 'active')
          .map(async (host) => {
            const client = currentClient(host, root);
            if (!client) return `${host.name}: no client has the key root serves`;
            if (!activeBefore.has(host.name)) {
              const init = await client.run(['init', '--encryption', 'none', repositoryUrl(host.name)]);
              if (init.exitCode !== 0 && !/already exists/.test(init.stderr))
                return `${host.name}: borg init failed: ${init.stderr.trim().slice(-300)}`;
            }
            if (host === prepared.host || host === keptInTurn || !activeBefore.has(host.name)) {
              const result = await backUp(host, client, `trial-${trialNumber}`);
              return result.exitCode === 0 ? null : `${host.name}: borg create failed: ${result.stderr.trim().slice(-300)}`;
            }
            const login = await client.ssh({ user: host.name, port: sandbox.sshPort }, [], { input: '' });
            return login.exitCode === 0 ? null : `${host.name}: cannot log in: ${login.stderr.trim().slice(-300)}`;
          }),
      );
      failures.push(...results.filter((result): result is string => result !== null));
      return failures;
    }

    /** Null when the repository is `before` rolled back to a commit (newer segments and index files gone, log cut there), else why not. */
    async function restoredRepositoryProblem(
      name: string,
      before: Map<string, string>,
      after: Map<string, string>,
    ): Promise<string | null> {
      const log = await sandbox.readFile(`${sandbox.backupDir}/${name}/repo/transactions`);
      const last = [...log.matchAll(/^transaction (\d+),/gm)].pop();
      if (!last) return 'restored repository has no transaction log';
      const transaction = Number(last[1]);
      for (const [path, sum] of before) {
        const segment = /^data\/\d+\/(\d+)$/.exec(path);
        const isNewer = segment ? Number(segment[1]) > transaction : /^(index|hints|integrity)\.\d+$/.test(path);
        if (isNewer && after.has(path)) return `half restored: ${path} is newer than commit ${transaction} and still there`;
        if (!isNewer && path !== 'transactions' && path !== 'config' && after.get(path) !== sum) return `restore changed ${path}`;
      }
      for (const path of after.keys()) if (!before.has(path)) return `restore added ${path}`;
      return null;
    }
  }, 1_800_000);
});
