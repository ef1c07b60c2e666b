import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { SANDBOX_API_USER, SANDBOX_STATE_DIR } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The unprivileged API process taken over, against root's channel: whatever
 * that user sends on the API's socket (test/fixtures/attack/root-channel-attacker.mjs
 * runs as it), root must keep running, say so in its log, answer nothing it
 * should not, and keep enforcing what the admin says through the CLI.
 */

const API_SOCKET = `${SANDBOX_STATE_DIR}/run/api/api.sock`;
const CONTROL_SOCKET = `${SANDBOX_STATE_DIR}/run/cli/control.sock`;
const ATTACKER = fileURLToPath(new URL('../fixtures/attack/root-channel-attacker.mjs', import.meta.url));
/** The dispatcher's limits (src/root/requests/request-dispatcher.ts, request-sockets.ts). */
const MAX_DROPS = 1000;
const MAX_API_CONNECTIONS = 8;

interface LogLine {
  msg?: string;
  reason?: string;
  channel?: string;
  connection?: number;
  drops?: number;
  notLoggedSinceLastLine?: number;
}

describe("the API user taken over, against root's channel", () => {
  const server = useAttackServer();
  const group = 'compromised API user';
  let client: BorgClient;

  const sandbox = () => server().sandbox;
  /** A command run as the API user, as its taken-over process could. */
  const asApiUser = (command: string[], timeoutMs = 60_000) =>
    sandbox().exec(['setpriv', `--reuid=${SANDBOX_API_USER}`, `--regid=${SANDBOX_API_USER}`, '--clear-groups', '--', ...command], {
      reject: false,
      timeoutMs,
    });
  /** The attacker script, as the API user; its one line of JSON. */
  const runAttacker = async (mode: string, count = 0) => {
    const result = await asApiUser([process.execPath, ATTACKER, mode, API_SOCKET, String(count)], 90_000);
    expect(result.exitCode, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  };
  const serverLog = (): LogLine[] =>
    (sandbox().server?.output() ?? '')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as LogLine;
        } catch {
          return {};
        }
      });
  const refusalLines = () => serverLog().filter((line) => line.msg === 'channel message refused');
  const sshLogin = () => client.ssh({ user: 'db1', port: sandbox().sshPort }, [], { input: '', timeoutMs: 30_000 });
  const isRefused = (result: { exitCode: number | undefined; stderr: string }) =>
    result.exitCode === 255 && result.stderr.includes('Permission denied');
  const healthz = async () => (await fetch(`${sandbox().baseUrl}/healthz`, { signal: AbortSignal.timeout(5000) })).status;
  const apiPids = async () =>
    (await sandbox().processesInside()).filter((info) => info.commandLine.includes('api/main.js')).map((info) => info.pid);

  beforeAll(async () => {
    client = await createBorgClient('db1');
    await enrollAndApprove(server().api, client, 'db1');
  });

  afterAll(async () => {
    await client?.remove();
  });

  attack(group, "replace root's API socket, or ask on the CLI's control socket", async () => {
    const replace = await asApiUser(['sh', '-c', `rm -f ${API_SOCKET} && touch ${API_SOCKET}`]);
    const plant = await asApiUser(['touch', `${SANDBOX_STATE_DIR}/run/api/planted`]);
    const control = await asApiUser([
      process.execPath,
      '-e',
      "require('node:net').connect(process.argv[1]).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (error) => { console.log(error.code); process.exit(0); })",
      CONTROL_SOCKET,
    ]);
    expect(replace.exitCode).not.toBe(0);
    expect(plant.exitCode).not.toBe(0);
    expect(control.stdout.trim()).toBe('EACCES');
    const modes = await sandbox().exec([
      'stat',
      '-c',
      '%n %U:%G %a',
      `${SANDBOX_STATE_DIR}/run/api`,
      API_SOCKET,
      `${SANDBOX_STATE_DIR}/run/cli`,
    ]);
    expect(modes.stdout).toContain(`run/api root:${SANDBOX_API_USER} 750`);
    expect(modes.stdout).toContain(`api.sock root:${SANDBOX_API_USER} 660`);
    expect(modes.stdout).toContain('run/cli root:root 700');
    return `socket not replaced, nothing planted in run/api (root:${SANDBOX_API_USER} 750); the control socket: ${control.stdout.trim()}`;
  });

  attack(group, "send root's channel a line that is not JSON, a 10 MiB line, unknown request types and wrong fields", async () => {
    const before = refusalLines().length;
    const outcome = (await runAttacker('malformed')) as { codes: Record<string, string>; afterAllThat: string; isClosed: boolean };
    for (const [request, code] of Object.entries(outcome.codes)) expect(code, request).toBe('BAD_REQUEST');
    // The same connection is still served after all of it: nothing it sent stuck in root.
    expect(outcome.afterAllThat).toBe('ok');
    expect(sandbox().server?.hasExited(), 'borgctl serve was ended').toBe(false);
    expect(await healthz()).toBe(200);
    // Every refusal is in the log: its own line (at most one a second per connection), or counted in the next line or the closing one.
    const first = await waitFor('the first refusal in the log', () => refusalLines().slice(before)[0]);
    const ofConnection = (line: LogLine) => line.channel === 'api' && line.connection === first.connection;
    const refused = Object.keys(outcome.codes).length + 3;
    /** Refusals of that connection the log accounts for; the closing line appears only when it held some back. */
    const accountedFor = () => {
      const lines = refusalLines().filter(ofConnection);
      const closing = serverLog().find((line) => ofConnection(line) && line.msg === 'channel connection closed');
      const count = lines.reduce((sum, line) => sum + 1 + (line.notLoggedSinceLastLine ?? 0), closing?.notLoggedSinceLastLine ?? 0);
      return { lines: lines.length + (closing ? 1 : 0), count, atClose: closing?.notLoggedSinceLastLine ?? 0 };
    };
    const logged = await waitFor('every refusal in the log', () => (accountedFor().count === refused ? accountedFor() : undefined));
    expect(first.reason).toBe('not-json');
    return (
      `every bad request answered BAD_REQUEST (${Object.keys(outcome.codes).length}), the next request on the same connection answered; ` +
      `root runs; ${refused} refusals logged in ${logged.lines} lines (first: ${first.reason}; ${logged.atClose} counted when it closed)`
    );
  });

  attack(group, "flood root's channel with thousands of requests and connections, then disable a host through the CLI", async () => {
    const initial = await sshLogin();
    expect(isRefused(initial), initial.stderr).toBe(false);
    const before = refusalLines().length;
    const startedAt = Date.now();
    const flood = (await runAttacker('flood', 20_000)) as {
      sent: number;
      replies: number;
      tally: Record<string, number>;
      isClosed: boolean;
    };
    const connections = (await runAttacker('connections', 40)) as { tried: number; connected: number; leftOpen: number };
    const floodSeconds = (Date.now() - startedAt) / 1000;
    expect(flood.isClosed, 'root closed the flooding connection').toBe(true);
    expect(flood.tally.RATE_LIMITED ?? 0).toBeGreaterThan(0);
    expect(flood.replies).toBeLessThan(flood.sent);
    // The API process holds one of the connections; the attacker gets the rest, no more.
    expect(connections.leftOpen).toBeLessThanOrEqual(MAX_API_CONNECTIONS - 1);
    expect(sandbox().server?.hasExited(), 'borgctl serve was ended').toBe(false);
    // The attacker saw its connections closed and refused; root's lines saying so come through
    // serve's output pipe on their own time: wait for them.
    const closedLines = await waitFor(
      () => `root's line closing the flooding connection; serve printed:\n${sandbox().server?.output().slice(-4000)}`,
      () => {
        const lines = serverLog().filter((line) => line.msg === 'channel connection closed: it keeps sending refused messages');
        return lines.length > 0 ? lines : undefined;
      },
    );
    await waitFor(
      () => `root's line refusing a connection past the cap; serve printed:\n${sandbox().server?.output().slice(-4000)}`,
      () => (serverLog().some((line) => line.msg === 'channel connection refused: too many open') ? true : undefined),
    );
    // Thousands of refusals, a handful of log lines: one a second per connection at most, and a count when it closes.
    const logged = refusalLines().length - before;
    expect(logged).toBeLessThanOrEqual(Math.ceil(floodSeconds + 2) * 2);
    expect(closedLines.at(-1)).toMatchObject({ channel: 'api' });

    // Root still does what the admin says: the host's key is refused within seconds.
    const disabledAt = Date.now();
    await sandbox().borgctl(['hosts', 'disable', 'db1']);
    const refused = await waitFor(
      "db1's key refused",
      async () => {
        const login = await sshLogin();
        return isRefused(login) ? login : undefined;
      },
      60_000,
    );
    const refusedAfterMs = Date.now() - disabledAt;
    expect(await healthz()).toBe(200);
    return (
      `${flood.sent} requests: ${JSON.stringify(flood.tally)} before root closed the connection past ${MAX_DROPS} refusals; ` +
      `${connections.tried} connections: ${connections.leftOpen} left open; ${logged} log lines; ` +
      `root runs; "hosts disable db1" refused its key ${refusedAfterMs} ms later ("${refused.stderr.trim().split('\n').pop()}")`
    );
  });

  attack(group, 'kill the API process to cut the API off root', async () => {
    const [pid] = await apiPids();
    expect(pid, 'the API process').toBeDefined();
    const kill = await asApiUser(['kill', '-KILL', String(pid)]);
    expect(kill.exitCode, kill.stderr).toBe(0);
    const restarted = await waitFor(
      'a new API process answering /healthz',
      async () => {
        const pids = await apiPids();
        if (pids.length === 0 || pids.includes(pid as number)) return undefined;
        return (await healthz().catch(() => 0)) === 200 ? pids : undefined;
      },
      60_000,
    );
    expect(sandbox().server?.hasExited(), 'borgctl serve was ended').toBe(false);
    // The new process has its own channel to root: a change through it is applied.
    const enabled = await server().api.request('PATCH', '/v1/admin/hosts/db1', {
      body: { disabled: false },
      bearer: server().api.adminToken,
    });
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
    let login = await sshLogin();
    await waitFor(
      () => `db1's key to be let in again; the last login said:\n${login.stderr}`,
      async () => {
        if (!isRefused(login)) return true;
        login = await sshLogin();
        return isRefused(login) ? undefined : true;
      },
    );
    return `API pid ${pid} killed; pid ${restarted.join(',')} started, /healthz 200; a PATCH through it re-enabled db1 (applied by root)`;
  });
});
