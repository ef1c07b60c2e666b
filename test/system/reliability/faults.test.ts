import { existsSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type CommandResult, createSandbox, type SandboxProcess, type SandboxProcessInfo } from '../../support/sandbox.js';
import {
  createAdminToken,
  createServerApi,
  enrollAndApprove,
  type ServerSandbox,
  startServerSandbox,
  stopServerSandbox,
} from '../../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../../support/sandbox-client.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Faults of the machine under a running `borgctl serve` (issue 18, part 2): the state volume full, the backup
 * volume full, the API's database locked by another process, sshd killed, the API child killed, the clock
 * stepped back an hour. For each: the API answers 503 with a JSON body naming the reason, the log names the
 * cause once (one line per process that sees it, not one per request), `borgctl healthcheck` fails naming it,
 * an enrolled host backs up wherever the fault allows; and once the fault is removed everything recovers
 * without a restart: one server, the same supervisor process, from the first fault to the last.
 *
 * The state and backup directories are tmpfs mounts of their own in the sandbox (filled with a file); the clock
 * is libfaketime's (Debian's faketime package), read from a file the test rewrites while the server runs. Only
 * root gets the faked clock (its children get no environment of ours): the healthcheck run beside it gets the
 * same clock, as every process of a machine whose clock was stepped would.
 *
 * The read-only state volume has a server of its own (the last describe): an admin cannot make a volume read-only
 * under a running server (`mount -o remount,ro` refuses while SQLite holds its files open for writing), only the
 * kernel does (ext4 after an error), and that is undone only by unmounting it: it heals by fsck and a restart.
 */

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const FAKETIME_FILE = '/srv/faketime';
/** The clock root and the healthcheck see: the machine's, shifted by what FAKETIME_FILE says (re-read every second). */
const fakeClockEnvironment = {
  LD_PRELOAD: LIBFAKETIME,
  FAKETIME_TIMESTAMP_FILE: FAKETIME_FILE,
  FAKETIME_CACHE_DURATION: '1',
  // Timers run on the monotonic clock, which a step of the wall clock leaves alone.
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
};
const BETTER_SQLITE3 = fileURLToPath(new URL('../../../node_modules/better-sqlite3', import.meta.url));

const isSshdListener = (info: SandboxProcessInfo) => info.name === 'sshd' && info.commandLine.includes('[listener]');
const isApiChild = (info: SandboxProcessInfo) => info.commandLine.endsWith('/api/main.js');

interface LogLine {
  name?: string;
  fault?: string;
  msg?: string;
}

describe('faults give a clear error and heal by themselves', () => {
  let server: ServerSandbox;
  let client: BorgClient;
  let repoUrl: string;
  let supervisor: SandboxProcess;
  let backups = 0;

  beforeAll(async () => {
    if (!existsSync(LIBFAKETIME))
      throw new Error(`${LIBFAKETIME} is missing: apt-get install faketime (scripts/install-system-packages.sh)`);
    server = await startServerSandbox({ env: fakeClockEnvironment }, { volumeSizes: { state: '64m', backup: '64m' } });
    supervisor = server.sandbox.server as SandboxProcess;
    await server.sandbox.writeFile(FAKETIME_FILE, '+0\n');
    client = await createBorgClient('web1');
    ({ repoUrl } = await enrollAndApprove(server.api, client, 'web1'));
    expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await backUp()).toBe(0);
  });

  let hasFailed = false;
  afterEach((context) => {
    if (context.task.result?.state === 'fail') hasFailed = true;
  });

  afterAll(async () => {
    await client?.remove();
    // Prints the server's output when a test failed; fails when it left a process behind.
    await stopServerSandbox(server, { task: { name: 'faults', result: { state: hasFailed ? 'fail' : 'pass' } } } as never);
  });

  /** `borg create` of the client's data as a new archive; its exit code. */
  async function backUp(): Promise<number | undefined> {
    backups += 1;
    return (await client.run(['create', `${repoUrl}::backup-${backups}`, client.dataDir])).exitCode;
  }

  async function healthcheck(env: Record<string, string> = {}): Promise<{ exitCode: number | undefined; problems: string[] }> {
    const result: CommandResult = await server.sandbox.borgctl(['healthcheck'], { reject: false, env });
    return { exitCode: result.exitCode, problems: result.stderr.split('\n').filter(Boolean) };
  }

  async function healthz(): Promise<{ status: number; body: { status?: string; reasons?: { code: string; message: string }[] } }> {
    const response = await fetch(`${server.sandbox.baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: (await response.json()) as never };
  }

  const codesOf = (reasons: { code: string }[] | undefined) => (reasons ?? []).map((reason) => reason.code);

  /**
   * The lines of the server's log (root's and the API's) that began or ended an episode of `code`, as
   * `NAME began|ended`: the beginnings first, then the ends, each sorted (the two processes log in either order).
   */
  function faultLog(code: string): string[] {
    return supervisor
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.fault === code)
      .map((line) => `${line.name} ${line.msg?.startsWith('fault began') ? 'began' : 'ended'}`)
      .sort((one, other) => Number(one.endsWith('ended')) - Number(other.endsWith('ended')) || one.localeCompare(other));
  }

  async function waitForFaultLog(code: string, expected: string[]): Promise<void> {
    await waitFor(`the log to say ${expected.join(', ')} for ${code}`, () => (faultLog(code).length >= expected.length ? true : undefined));
    expect(faultLog(code)).toEqual(expected);
  }

  async function waitUntilHealthy(env: Record<string, string> = {}): Promise<void> {
    const last = await waitFor(
      'the healthcheck to pass again',
      async () => {
        const result = await healthcheck(env);
        return result.exitCode === 0 ? result : undefined;
      },
      60_000,
    );
    expect(last.problems).toEqual([]);
    expect((await healthz()).status).toBe(200);
  }

  /** The supervisor that started first still runs: nothing was restarted to recover. */
  function expectSameSupervisor(): void {
    expect(supervisor.hasExited()).toBe(false);
    expect(server.sandbox.server).toBe(supervisor);
  }

  describe('the state volume full', () => {
    it('answers writes 503 STATE_VOLUME_FULL and fails the healthcheck, backups go on, and it heals once space is freed', async () => {
      const { sandbox, api } = server;
      const other = await createBorgClient('web3');
      onTestFinished(() => other.remove());
      const { token } = await api.mintEnrollmentToken();
      const enrollment = await api.enroll(token, 'web3', other.publicKey);
      const fill = await sandbox.exec(['sh', '-c', `cat /dev/zero > ${sandbox.stateDir}/fill`], { reject: false });
      onTestFinished(() => sandbox.exec(['rm', '-f', `${sandbox.stateDir}/fill`]).then(() => undefined));
      expect(fill.stderr).toMatch(/No space left on device/);

      for (let attempt = 0; attempt < 3; attempt += 1) {
        const refused = await api.request('POST', '/v1/admin/tokens', { body: {}, bearer: api.adminToken });
        expect(refused).toEqual({ status: 503, body: { error: 'STATE_VOLUME_FULL', message: expect.any(String) } });
      }
      // Root's own database is on the same volume: root answers the approval with the reason, and writes nothing.
      const approval = await api.approve(enrollment.id, other.fingerprint);
      expect(approval).toEqual({ status: 503, body: { error: 'STATE_VOLUME_FULL', message: expect.any(String) } });
      const health = await healthz();
      expect(health.status).toBe(503);
      expect(health.body.status).toBe('unhealthy');
      expect(codesOf(health.body.reasons)).toContain('STATE_VOLUME_FULL');
      const check = await healthcheck();
      expect(check.exitCode).toBe(1);
      expect(check.problems).toContainEqual(expect.stringMatching(/^unhealthy: STATE_VOLUME_FULL: /));
      // borg serve writes only the backup volume; sshd needs nothing writable in the state directory.
      expect(await backUp()).toBe(0);
      // Each process says it once, however many requests failed.
      await waitForFaultLog('STATE_VOLUME_FULL', ['api began', 'serve began']);

      await sandbox.exec(['rm', `${sandbox.stateDir}/fill`]);
      await waitUntilHealthy();
      expect((await api.request('POST', '/v1/admin/tokens', { body: {}, bearer: api.adminToken })).status).toBe(201);
      expect((await api.approve(enrollment.id, other.fingerprint)).status).toBe(200);
      await waitForFaultLog('STATE_VOLUME_FULL', ['api began', 'serve began', 'api ended', 'serve ended']);
      expectSameSupervisor();
    });
  });

  describe('the backup volume full', () => {
    it('refuses a new host 503 BACKUP_VOLUME_FULL and fails the healthcheck; once space is freed the host backs up and the new one is approved', async () => {
      const { sandbox, api } = server;
      const other = await createBorgClient('web2');
      try {
        const { token } = await api.mintEnrollmentToken();
        const enrollment = await api.enroll(token, 'web2', other.publicKey);
        const fill = await sandbox.exec(['sh', '-c', `cat /dev/zero > ${sandbox.backupDir}/fill`], { reject: false });
        onTestFinished(() => sandbox.exec(['rm', '-f', `${sandbox.backupDir}/fill`]).then(() => undefined));
        expect(fill.stderr).toMatch(/No space left on device/);
        await waitForFaultLog('BACKUP_VOLUME_FULL', ['serve began']);

        const refused = await api.approve(enrollment.id, other.fingerprint);
        expect(refused).toEqual({ status: 503, body: { error: 'BACKUP_VOLUME_FULL', message: expect.any(String) } });
        expect(codesOf((await healthz()).body.reasons)).toEqual(['BACKUP_VOLUME_FULL']);
        const check = await healthcheck();
        expect(check.exitCode).toBe(1);
        expect(check.problems).toEqual([expect.stringMatching(/^unhealthy: BACKUP_VOLUME_FULL: /)]);
        // Nothing can be written to a full volume: the backup fails, and leaves the repository as it was.
        expect(await backUp()).not.toBe(0);

        await sandbox.exec(['rm', `${sandbox.backupDir}/fill`]);
        await waitUntilHealthy();
        expect(await backUp()).toBe(0);
        expect(await client.run(['check', repoUrl])).toMatchObject({ exitCode: 0 });
        expect((await api.approve(enrollment.id, other.fingerprint)).status).toBe(200);
        expect(faultLog('BACKUP_VOLUME_FULL')).toEqual(['serve began', 'serve ended']);
      } finally {
        await other.remove();
      }
      expectSameSupervisor();
    });
  });

  describe("the API's database locked by another process", () => {
    it('answers writes 503 SERVER_BUSY and fails the healthcheck while the lock is held, backups go on, and it heals once let go', async () => {
      const { sandbox, api } = server;
      const script = [
        `const Database = require(${JSON.stringify(BETTER_SQLITE3)});`,
        `const db = new Database(${JSON.stringify(`${sandbox.stateDir}/db/borg.db`)});`,
        "db.pragma('busy_timeout = 30000');",
        "db.exec('BEGIN EXCLUSIVE');",
        "console.log('locked');",
        "process.on('SIGTERM', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });",
        'setInterval(() => {}, 60000);',
      ].join('\n');
      const holder = sandbox.spawn([process.execPath, '-e', script]);
      try {
        await waitFor('the other process to hold the lock', () => (holder.output().includes('locked') ? true : undefined));
        // Past the 5 s busy timeout the request did nothing, and says so.
        const refused = await api.request('POST', '/v1/admin/tokens', { body: {}, bearer: api.adminToken });
        expect(refused).toEqual({ status: 503, body: { error: 'SERVER_BUSY', message: expect.any(String) } });
        const health = await healthz();
        expect(health.status).toBe(503);
        expect(codesOf(health.body.reasons)).toEqual(['SERVER_BUSY']);
        const check = await healthcheck();
        expect(check.exitCode).toBe(1);
        expect(check.problems).toEqual([expect.stringMatching(/^unhealthy: SERVER_BUSY: /)]);
        // Root keeps its own database: sshd, borg and root's watch of the session need nothing of the API's.
        expect(await backUp()).toBe(0);
      } finally {
        await holder.stop();
      }
      await waitUntilHealthy();
      expect((await api.request('POST', '/v1/admin/tokens', { body: {}, bearer: api.adminToken })).status).toBe(201);
      await waitForFaultLog('SERVER_BUSY', ['api began', 'api ended']);
      expectSameSupervisor();
    });
  });

  describe('sshd killed', () => {
    it('fails the healthcheck naming SSHD_DOWN while sshd cannot come back, and heals once it can', async () => {
      const { sandbox } = server;
      // Killed, and kept from starting again (its port taken) so that the fault lasts as long as the test looks.
      const portHolder = await waitFor('the SSH port to be taken from a killed sshd', async () => {
        const listener = (await sandbox.processesInside()).find(isSshdListener);
        if (listener) process.kill(listener.pid, 'SIGKILL');
        return listenOn(sandbox.sshPort);
      });
      try {
        await waitForFaultLog('SSHD_DOWN', ['serve began']);
        const health = await healthz();
        expect(health.status).toBe(503);
        expect(codesOf(health.body.reasons)).toEqual(['SSHD_DOWN']);
        const check = await healthcheck();
        expect(check.exitCode).toBe(1);
        expect(check.problems).toContainEqual(expect.stringMatching(/^unhealthy: SSHD_DOWN: /));
      } finally {
        await closeServer(portHolder);
      }
      await waitUntilHealthy();
      expect(await backUp()).toBe(0);
      // sshd's failed restarts (its port taken) were one episode.
      expect(faultLog('SSHD_DOWN')).toEqual(['serve began', 'serve ended']);
      expectSameSupervisor();
    });
  });

  describe('the API child killed', () => {
    it('fails the healthcheck naming the API while it is down, backups go on, and the supervisor brings it back', async () => {
      const { sandbox } = server;
      const apiChild = (await sandbox.processesInside()).find(isApiChild);
      expect(apiChild).toBeDefined();
      process.kill((apiChild as SandboxProcessInfo).pid, 'SIGKILL');
      await waitForFaultLog('API_DOWN', ['serve began']);
      const check = await healthcheck();
      expect(check.exitCode).toBe(1);
      // Down, root says so; up again but not yet for long, its /healthz repeats what root pushed it.
      expect(check.problems).toContainEqual(expect.stringMatching(/^unhealthy: (API_DOWN: |API: )/));
      expect(await backUp()).toBe(0);

      await waitUntilHealthy();
      expect(faultLog('API_DOWN')).toEqual(['serve began', 'serve ended']);
      const restarted = (await sandbox.processesInside()).find(isApiChild);
      expect(restarted?.pid).not.toBe(apiChild?.pid);
      expectSameSupervisor();
    });
  });

  describe('the clock stepped back an hour', () => {
    it('reports CLOCK_STEPPED_BACK without calling root stalled, backups go on, and it heals once the clock is set right', async () => {
      const { sandbox } = server;
      await sandbox.writeFile(FAKETIME_FILE, '-3600\n');
      onTestFinished(() => sandbox.writeFile(FAKETIME_FILE, '+0\n'));
      await waitForFaultLog('CLOCK_STEPPED_BACK', ['serve began']);
      const health = await healthz();
      expect(health.status).toBe(503);
      expect(codesOf(health.body.reasons)).toEqual(['CLOCK_STEPPED_BACK']);
      // The healthcheck on the same (stepped) clock: root's report, dated an hour back, is not a stalled root.
      const check = await healthcheck(fakeClockEnvironment);
      expect(check.exitCode).toBe(1);
      expect(check.problems).toEqual([
        expect.stringMatching(/^unhealthy: CLOCK_STEPPED_BACK: the clock was stepped back: it is \d+ s behind/),
      ]);
      expect(await backUp()).toBe(0);

      await sandbox.writeFile(FAKETIME_FILE, '+0\n');
      await waitUntilHealthy(fakeClockEnvironment);
      expect(faultLog('CLOCK_STEPPED_BACK')).toEqual(['serve began', 'serve ended']);
      expectSameSupervisor();
    });
  });
});

/** Listens on 127.0.0.1:`port`; undefined while another process holds it. */
function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    // Whoever connects (the healthcheck) is let go at once, with no SSH banner.
    const holder = createServer((socket) => socket.destroy());
    holder.once('error', () => resolve(undefined));
    holder.listen(port, '127.0.0.1', () => resolve((holder.address() as AddressInfo).port === port ? holder : undefined));
  });
}

function closeServer(holder: Server): Promise<void> {
  return new Promise((resolve) => holder.close(() => resolve()));
}

describe('the state volume turned read-only by the kernel', () => {
  // The one way a state volume goes read-only under a running server: ext4 after an error (errors=remount-ro).
  // `mount -o remount,ro` refuses while SQLite holds its files open for writing, and the kernel's emergency
  // read-only stays until the volume is unmounted: recovery is the admin's fsck and a restart, shown here too.
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;

  afterAll(async () => {
    await client?.remove();
    if (server) {
      const output = server.sandbox.server?.output() ?? '';
      const report = await server.sandbox.stop();
      if (report.leftoverProcesses.length > 0)
        throw new Error(`processes left behind: ${JSON.stringify(report.leftoverProcesses)}\n${output}`);
    }
  });

  it('answers writes 503 STATE_VOLUME_READ_ONLY and fails the healthcheck, backups go on; after fsck and a restart all is well', async () => {
    const sandbox = await createSandbox();
    server = { sandbox, api: undefined as never };
    const image = '/srv/state.img';
    await sandbox.exec(['truncate', '-s', '64M', image]);
    await sandbox.exec(['mkfs.ext4', '-q', '-F', image]);
    await sandbox.exec(['mount', '-o', 'loop,errors=remount-ro', image, sandbox.stateDir]);
    const device = (await sandbox.exec(['findmnt', '-n', '-o', 'SOURCE', sandbox.stateDir])).stdout.trim();
    expect(device).toMatch(/^\/dev\/loop\d+$/);
    await sandbox.startServer();
    const api = createServerApi(sandbox.baseUrl, await createAdminToken(sandbox));
    server = { sandbox, api };
    client = await createBorgClient('web1');
    const { repoUrl } = await enrollAndApprove(api, client, 'web1');
    const borg = client;
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });

    // What was written reaches the disk first: host keys and the signing key are written without fsync, and an
    // error within ext4's commit interval of their writing would leave them empty after the fsck (see the report).
    await sandbox.exec(['sync', '-f', sandbox.stateDir]);
    // What ext4 does on finding an error in its metadata, asked of it as its sysfs file allows.
    await sandbox.exec(['sh', '-c', 'echo faults-test > "$1"', 'trigger', `/sys/fs/ext4/${device.replace('/dev/', '')}/trigger_fs_error`]);
    const refused = await api.request('POST', '/v1/admin/tokens', { body: {}, bearer: api.adminToken });
    expect(refused).toEqual({ status: 503, body: { error: 'STATE_VOLUME_READ_ONLY', message: expect.any(String) } });
    const health = await fetch(`${sandbox.baseUrl}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { reasons: { code: string }[] }).reasons.map((reason) => reason.code)).toContain(
      'STATE_VOLUME_READ_ONLY',
    );
    const check = await sandbox.borgctl(['healthcheck'], { reject: false });
    expect(check.exitCode).toBe(1);
    expect(check.stderr.split('\n')).toContainEqual(expect.stringMatching(/^unhealthy: STATE_VOLUME_READ_ONLY: /));
    expect(await borg.run(['create', `${repoUrl}::while-read-only`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const began = () =>
      (sandbox.server as SandboxProcess)
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.fault === 'STATE_VOLUME_READ_ONLY' && line.msg?.startsWith('fault began'))
        .map((line) => line.name)
        .sort();
    await waitFor('root and the API to log the fault', () => (began().length >= 2 ? true : undefined));
    expect(began()).toEqual(['api', 'serve']);

    // The admin's part: stop, check the volume, mount it again, start.
    await (sandbox.server as SandboxProcess).stop();
    await sandbox.exec(['umount', sandbox.stateDir]);
    await sandbox.exec(['e2fsck', '-f', '-y', image], { reject: false });
    await sandbox.exec(['mount', '-o', 'loop,errors=remount-ro', image, sandbox.stateDir]);
    await sandbox.startServer();
    expect(await sandbox.borgctl(['healthcheck'], { reject: false })).toMatchObject({ exitCode: 0, stderr: '' });
    expect((await api.request('POST', '/v1/admin/tokens', { body: {}, bearer: api.adminToken })).status).toBe(201);
    expect(await borg.run(['create', `${repoUrl}::after-fsck`, borg.dataDir])).toMatchObject({ exitCode: 0 });
  });
});
