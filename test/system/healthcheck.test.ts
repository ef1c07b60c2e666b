import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Server } from 'node:net';
import { basename } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BORGCTL_PATH, type CommandResult, createSandbox, pickFreePorts, type Sandbox, type SandboxProcess } from '../support/sandbox.js';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { createTestCertificate } from '../support/tls-certificates.js';
import { httpsUrl, startHttpsServer, stopHttpsSandbox } from '../support/tls-server.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `borgctl healthcheck`, the image's HEALTHCHECK, run for real inside the
 * sandbox against a running `borgctl serve`. Each failure is made by pointing
 * one check somewhere else (a free port, a stand-in listener, a read-only view
 * of the state directory) while the other two still see the healthy server,
 * so each test shows that one check alone turns the result unhealthy.
 *
 * The stand-in listeners run in this test process: the sandbox shares this
 * machine's network, so `borgctl healthcheck` inside it reaches them on 127.0.0.1.
 */

/** The problems the healthcheck printed, one `unhealthy: ...` line each. */
function problemsOf(result: CommandResult): string[] {
  return result.stderr.split('\n').filter(Boolean);
}

/** Probe files the healthcheck wrote into the state directory and did not remove. */
async function probeFilesLeft(sandbox: Sandbox): Promise<string[]> {
  return (await sandbox.listFiles(sandbox.stateDir)).filter((path) => basename(path).startsWith('.healthcheck-'));
}

/** Listens on a free loopback port; resolves with the port. */
async function listenOnFreePort(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('borgctl healthcheck against the server over HTTP', () => {
  let server: ServerSandbox | undefined;
  const standIns: Server[] = [];

  beforeEach(async () => {
    server = await startServerSandbox();
  });

  afterEach(async (context) => {
    for (const standIn of standIns.splice(0)) await closeServer(standIn);
    await stopServerSandbox(server, context);
  });

  const healthcheck = (env: Record<string, string> = {}) =>
    (server as ServerSandbox).sandbox.borgctl(['healthcheck'], { reject: false, env });

  /** An HTTP server that answers every request with `status`, recording the paths asked for. */
  async function startHttpStandIn(status: number): Promise<{ port: number; paths: string[] }> {
    const paths: string[] = [];
    const standIn = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
      paths.push(request.url ?? '');
      response.writeHead(status, { 'content-type': 'text/plain' }).end('not the borg server\n');
    });
    standIns.push(standIn);
    return { port: await listenOnFreePort(standIn), paths };
  }

  it('exits 0 and prints nothing when sshd, the API and the state directory are fine', async () => {
    const { sandbox } = server as ServerSandbox;
    const result = await healthcheck();
    expect(result).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    expect(await probeFilesLeft(sandbox)).toEqual([]);
  });

  it('fails naming sshd when nothing listens on the SSH port', async () => {
    // The supervisor restarts a killed sshd within moments, so the check is pointed at a port nobody listens on instead.
    const { sandbox } = server as ServerSandbox;
    const [freePort = 0] = await pickFreePorts(1);
    const result = await healthcheck({ BORG_SERVER_SSH_PORT: String(freePort) });
    expect(result.exitCode).toBe(1);
    expect(problemsOf(result)).toEqual([expect.stringMatching(/^unhealthy: sshd: .*ECONNREFUSED/)]);
    expect(await probeFilesLeft(sandbox)).toEqual([]);
  });

  it('fails naming sshd when the SSH port closes the connection without a banner', async () => {
    // What an sshd refusing more unauthenticated connections (MaxStartups) does: accept, then close.
    const { sandbox } = server as ServerSandbox;
    const standIn = createTcpServer((socket) => socket.end());
    standIns.push(standIn);
    const result = await healthcheck({ BORG_SERVER_SSH_PORT: String(await listenOnFreePort(standIn)) });
    expect(result.exitCode).toBe(1);
    expect(problemsOf(result)).toEqual(['unhealthy: sshd closed the connection without an SSH banner']);
    expect(await probeFilesLeft(sandbox)).toEqual([]);
  });

  it('fails naming the API when nothing listens on the HTTP port', async () => {
    const { sandbox } = server as ServerSandbox;
    const [freePort = 0] = await pickFreePorts(1);
    const result = await healthcheck({ BORG_SERVER_HTTP_PORT: String(freePort) });
    expect(result.exitCode).toBe(1);
    expect(problemsOf(result)).toEqual([expect.stringMatching(/^unhealthy: API: .*ECONNREFUSED/)]);
    expect(await probeFilesLeft(sandbox)).toEqual([]);
  });

  it('fails naming the API when another server answers /healthz with 503', async () => {
    const { sandbox } = server as ServerSandbox;
    const standIn = await startHttpStandIn(503);
    const result = await healthcheck({ BORG_SERVER_HTTP_PORT: String(standIn.port) });
    expect(result.exitCode).toBe(1);
    expect(problemsOf(result)).toEqual(['unhealthy: API: /healthz answered 503']);
    expect(standIn.paths).toEqual(['/healthz']);
    expect(await probeFilesLeft(sandbox)).toEqual([]);
  });

  it('fails naming the state directory when it is read-only', async () => {
    // A mount namespace of its own for this one run: the healthcheck sees the state
    // directory read-only, the server (and everything after the test) keeps it writable,
    // and the mount goes away with the process, so there is nothing to undo.
    const { sandbox } = server as ServerSandbox;
    const script = ['set -eu', 'mount --bind "$1" "$1"', 'mount -o remount,bind,ro "$1"', 'shift', 'exec "$@"'].join('\n');
    const result = await sandbox.exec(
      [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        script,
        'read-only-state',
        sandbox.stateDir,
        process.execPath,
        BORGCTL_PATH,
        'healthcheck',
      ],
      { reject: false, env: sandbox.serverEnvironment },
    );
    expect(result.exitCode).toBe(1);
    expect(problemsOf(result)).toEqual([
      expect.stringMatching(/^unhealthy: STATE_VOLUME_READ_ONLY: state directory \/srv\/state is not writable: EROFS/),
    ]);
    expect(await probeFilesLeft(sandbox)).toEqual([]);
    // The read-only view was the healthcheck's alone.
    expect(await healthcheck()).toMatchObject({ exitCode: 0, stderr: '' });
  });
});

describe('borgctl healthcheck against the server over HTTPS', () => {
  let sandbox: Sandbox | undefined;
  let server: SandboxProcess | undefined;
  let impostor: Server | undefined;

  beforeEach(async () => {
    sandbox = await createSandbox();
    server = await startHttpsServer(sandbox);
  });

  afterEach(async (context) => {
    if (impostor) await closeServer(impostor);
    impostor = undefined;
    await stopHttpsSandbox(sandbox, server, context);
  });

  // The healthcheck runs with the server's own environment, including its https:// public URL.
  const healthcheck = (env: Record<string, string> = {}) => {
    const inside = sandbox as Sandbox;
    return inside.borgctl(['healthcheck'], { reject: false, env: { BORG_SERVER_PUBLIC_URL: httpsUrl(inside), ...env } });
  };

  it('exits 0 when the API serves the key pinned in the state directory', async () => {
    const result = await healthcheck();
    expect(result).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    expect(await probeFilesLeft(sandbox as Sandbox)).toEqual([]);
  });

  it('fails naming the API when the port serves another TLS key, even with a 200', async () => {
    // An impostor that answers /healthz with 200: only the pin check can tell it apart.
    const other = await createTestCertificate({ hostName: '127.0.0.1' });
    impostor = createHttpsServer({ key: other.keyPem, cert: other.certificatePem }, (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    });
    const result = await healthcheck({ BORG_SERVER_HTTP_PORT: String(await listenOnFreePort(impostor)) });
    expect(result.exitCode).toBe(1);
    expect(problemsOf(result)).toEqual(['unhealthy: API: serves another TLS key than the one in the state directory']);
    expect(await probeFilesLeft(sandbox as Sandbox)).toEqual([]);
  });
});

describe("borgctl healthcheck against root's liveness", () => {
  // The shortest bound there is, for a short test; the server and the healthcheck both read it.
  const STALL_SECONDS = 5;
  const stallEnvironment = { BORG_SERVER_ROOT_STALL_SECONDS: String(STALL_SECONDS) };
  let server: ServerSandbox | undefined;

  beforeEach(async () => {
    server = await startServerSandbox({ env: stallEnvironment });
  });

  afterEach(async (context) => {
    // A failed test must not leave the supervisor stopped: it could not end its children.
    const supervisor = server?.sandbox.server;
    if (supervisor && !supervisor.hasExited()) process.kill(supervisor.pid, 'SIGCONT');
    await stopServerSandbox(server, context);
  });

  const healthcheck = (env: Record<string, string> = {}) =>
    (server as ServerSandbox).sandbox.borgctl(['healthcheck'], { reject: false, env: { ...stallEnvironment, ...env } });

  it('fails naming root within its bound while the supervisor is stopped, and passes again once it continues', async () => {
    const inside = (server as ServerSandbox).sandbox;
    const supervisorProcess = inside.server as SandboxProcess;
    // sandbox.spawn execs (nsenter, setpriv) into the command: its pid is `borgctl serve` itself.
    const supervisor = (await inside.processesInside()).find((info) => info.pid === supervisorProcess.pid);
    expect(supervisor?.commandLine).toMatch(/borgctl serve$/);
    expect(await healthcheck()).toMatchObject({ exitCode: 0, stderr: '' });

    process.kill(supervisorProcess.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    // When each passing healthcheck began, counted from the stop. Not how long the failing one took
    // to come: on a busy machine one healthcheck (a node process) can take seconds to start.
    let lastPassBeganMs = 0;
    const unhealthy = await waitFor(
      'the healthcheck to fail',
      async () => {
        const beganMs = Date.now() - stoppedAt;
        const result = await healthcheck();
        if (result.exitCode === 0) lastPassBeganMs = beganMs;
        return result.exitCode === 0 ? undefined : result;
      },
      60_000,
    );
    // sshd and the API live on: root's silence alone makes it unhealthy. Within the bound: root's
    // last report is older than the stop, so a healthcheck begun more than the bound (and a second
    // of its whole-second reading) after the stop must fail, however slowly it runs.
    expect(problemsOf(unhealthy)).toEqual([expect.stringMatching(/^unhealthy: root has not reported for \d+ s$/)]);
    expect(lastPassBeganMs).toBeLessThanOrEqual((STALL_SECONDS + 1) * 1000);

    process.kill(supervisorProcess.pid, 'SIGCONT');
    await waitFor('the healthcheck to pass again', async () => ((await healthcheck()).exitCode === 0 ? true : undefined), 60_000);
    // The same supervisor recovered: nothing was restarted.
    expect(supervisorProcess.hasExited()).toBe(false);
    expect((await inside.processesInside()).some((info) => info.pid === supervisorProcess.pid)).toBe(true);
  });

  it("fails naming root's report when it is malformed, and when it is missing", async () => {
    const inside = (server as ServerSandbox).sandbox;
    const livenessFile = `${inside.stateDir}/run/liveness.json`;
    // Root rewrites its report every second: stop it (SIGSTOP) while the test writes over the file.
    const supervisorProcess = inside.server as SandboxProcess;
    process.kill(supervisorProcess.pid, 'SIGSTOP');
    try {
      await inside.writeFile(livenessFile, '{"pid": 1, "startedAt"', { mode: '0600' });
      const malformed = await healthcheck();
      expect(malformed.exitCode).toBe(1);
      expect(problemsOf(malformed)).toEqual([`unhealthy: root's liveness report ${livenessFile} is malformed: it is not JSON`]);
      await inside.exec(['rm', livenessFile]);
      const missing = await healthcheck();
      expect(missing.exitCode).toBe(1);
      expect(problemsOf(missing)).toEqual([`unhealthy: root has not reported yet (no ${livenessFile})`]);
    } finally {
      process.kill(supervisorProcess.pid, 'SIGCONT');
    }
    await waitFor('the healthcheck to pass again', async () => ((await healthcheck()).exitCode === 0 ? true : undefined), 60_000);
  });

  it("keeps root's report where only root can read it", async () => {
    const inside = (server as ServerSandbox).sandbox;
    const modes = await inside.exec(['stat', '-c', '%U %a %n', `${inside.stateDir}/run`, `${inside.stateDir}/run/liveness.json`]);
    // run/ holds root's sockets too: others may pass through it (0711), never list or write it.
    expect(modes.stdout.trim().split('\n')).toEqual([`root 711 ${inside.stateDir}/run`, `root 600 ${inside.stateDir}/run/liveness.json`]);
  });
});
