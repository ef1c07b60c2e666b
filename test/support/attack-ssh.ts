import { existsSync } from 'node:fs';
import { chmod, copyFile, readdir, readFile, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { Sandbox } from './sandbox.js';
import type { BorgClient, SshDestination } from './sandbox-client.js';
import { SYSTEM_PATH } from './system-path.js';
import { waitFor } from './wait-for.js';

/**
 * What an attacker with a stolen key does besides running borg: long-lived ssh
 * sessions with forwarding options, traffic through them, and a look at what
 * the server-side session received. The sessions run outside the sandbox, as
 * the client does; the server's processes are seen through /proc (same PID
 * namespace as the tests).
 */

/** The client's ssh options (key, known_hosts, BatchMode…), without the leading `ssh`. */
export function clientSshOptions(client: BorgClient): string[] {
  return client.rsh.split(' ').slice(1);
}

export function destinationArguments(destination: SshDestination): string[] {
  return ['-p', String(destination.port), `${destination.user}@${destination.host ?? '127.0.0.1'}`];
}

/** An ssh process that stays up (stdin open) until closed. */
export interface SshSession {
  readonly process: ResultPromise;
  output(): string;
  /** The output once it matches: ssh's -v lines may still be in the pipe when the server already shows their effect. */
  waitForOutput(expected: string | RegExp, timeoutMs?: number): Promise<string>;
  hasExited(): boolean;
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
  write(text: string): void;
  close(): Promise<void>;
}

export function openSsh(
  client: BorgClient,
  destination: SshDestination,
  options: { sshOptions?: string[]; remoteCommand?: string[]; env?: Record<string, string> } = {},
): SshSession {
  const subprocess = execa(
    'ssh',
    [
      ...clientSshOptions(client),
      ...(options.sshOptions ?? []),
      ...destinationArguments(destination),
      ...(options.remoteCommand?.length ? ['--', ...options.remoteCommand] : []),
    ],
    {
      env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: client.homeDir, ...options.env },
      extendEnv: false,
      stdin: 'pipe',
      buffer: false,
      reject: false,
      cwd: client.dir,
    },
  );
  const chunks: string[] = [];
  subprocess.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  subprocess.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  let hasExited = false;
  const exited = new Promise<{ exitCode: number | undefined; signal: string | undefined }>((resolve) => {
    // 'close', not 'exit': by then every byte ssh wrote has been read.
    subprocess.once('close', (code, signal) => {
      hasExited = true;
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined });
    });
  });
  subprocess.catch(() => undefined);
  return {
    process: subprocess,
    output: () => chunks.join(''),
    waitForOutput: (expected, timeoutMs = 60_000) =>
      waitFor(
        `ssh to print ${expected}`,
        () => {
          const output = chunks.join('');
          const matches = typeof expected === 'string' ? output.includes(expected) : expected.test(output);
          return matches ? output : undefined;
        },
        timeoutMs,
      ),
    hasExited: () => hasExited,
    exited,
    write(text) {
      subprocess.stdin?.write(text);
    },
    async close() {
      if (!hasExited) {
        subprocess.stdin?.end();
        subprocess.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (!hasExited) subprocess.kill('SIGKILL');
      }
      await exited;
    },
  };
}

export interface ServerProcess {
  pid: number;
  name: string;
  commandLine: string;
}

/** Processes of this machine whose real UID is `uid` (a host's sessions on the server). */
export async function processesOfUid(uid: number): Promise<ServerProcess[]> {
  const found: ServerProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) !== uid) continue;
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '';
      if (/^State:\s+Z/m.test(status)) continue;
      const commandLine = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      found.push({ pid: Number(entry), name, commandLine });
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}

const isBorgServe = (info: ServerProcess) => info.commandLine.includes('borg serve');

async function parentPid(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(parent) && parent > 0 ? parent : undefined;
}

/**
 * Opens a session and returns it with the `borg serve` process it started on
 * the server (a new one: sessions that are still ending do not count).
 *
 * New is not enough: an earlier session still starting (its shell runs borg, borg may fork) shows
 * new `borg serve` processes too, and on a busy machine they appear after this one was opened.
 * This session's are those with no process of the host older than the open among their ancestors.
 */
export async function openBorgServeSession(
  uid: number,
  open: () => SshSession,
  timeoutMs = 60_000,
): Promise<{ session: SshSession; serve: ServerProcess }> {
  const before = new Set((await processesOfUid(uid)).map((info) => info.pid));
  const session = open();
  const isOfThisSession = async (pid: number, ofUid: ReadonlySet<number>): Promise<boolean> => {
    for (let ancestor = await parentPid(pid); ancestor !== undefined && ofUid.has(ancestor); ancestor = await parentPid(ancestor)) {
      if (before.has(ancestor)) return false;
    }
    return true;
  };
  const serve = await waitFor(
    `a new borg serve session of uid ${uid}`,
    async () => {
      if (session.hasExited()) throw new Error(`the ssh session ended before borg serve started:\n${session.output()}`);
      const processes = await processesOfUid(uid);
      const ofUid = new Set(processes.map((info) => info.pid));
      for (const info of processes) {
        if (isBorgServe(info) && !before.has(info.pid) && (await isOfThisSession(info.pid, ofUid))) return info;
      }
      return undefined;
    },
    timeoutMs,
  );
  return { session, serve };
}

/** The environment a server-side process runs with (read from /proc as root). */
export async function environmentOf(pid: number): Promise<Record<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((entry) => {
        const at = entry.indexOf('=');
        return [entry.slice(0, at), entry.slice(at + 1)];
      }),
  );
}

/** A listener that counts the connections and bytes it gets: the far end of a forwarding attempt. */
export interface TrafficSink {
  readonly port: number;
  readonly path: string | undefined;
  connections(): number;
  received(): string;
  close(): Promise<void>;
}

function sinkOn(listen: (server: Server) => Promise<void>, describe: (server: Server) => { port: number; path?: string }) {
  return async (): Promise<TrafficSink> => {
    let connections = 0;
    let received = '';
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1');
      });
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      socket.write('SINK-GREETING\n');
    });
    await listen(server);
    const { port, path } = describe(server);
    return {
      port,
      path,
      connections: () => connections,
      received: () => received,
      async close() {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
        if (path) await rm(path, { force: true });
      },
    };
  };
}

export function tcpSink(host = '127.0.0.1'): Promise<TrafficSink> {
  return sinkOn(
    (server) => new Promise((resolve) => server.listen(0, host, () => resolve())),
    (server) => ({ port: (server.address() as { port: number }).port }),
  )();
}

/** A Unix-socket listener anyone may connect to (for stream-local forwarding attempts). */
export function unixSink(path: string): Promise<TrafficSink> {
  return sinkOn(
    (server) =>
      new Promise((resolve) =>
        server.listen(path, async () => {
          await execa('chmod', ['0777', path]);
          resolve();
        }),
      ),
    () => ({ port: 0, path }),
  )();
}

/** Connects to a local port, sends `text`, and returns what came back (or why it failed). */
export function sendThrough(port: number, text: string, host = '127.0.0.1', waitMs = 1500): Promise<{ connected: boolean; reply: string }> {
  return new Promise((resolve) => {
    let reply = '';
    let connected = false;
    const socket = createConnection({ port, host });
    const finish = () => {
      socket.destroy();
      resolve({ connected, reply });
    };
    socket.once('connect', () => {
      connected = true;
      socket.write(text);
      setTimeout(finish, waitMs);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
    });
    socket.once('error', finish);
    socket.once('close', finish);
  });
}

/**
 * A SOCKS5 CONNECT to 127.0.0.1:targetPort through a local SOCKS port (ssh -D),
 * then `text`. Returns the SOCKS reply code (0 = success) and what came back.
 */
export function socksConnect(socksPort: number, targetPort: number, text: string): Promise<{ replyCode: number | null; reply: string }> {
  return new Promise((resolve) => {
    const socket = createConnection({ port: socksPort, host: '127.0.0.1' });
    let stage: 'greeting' | 'connect' | 'data' = 'greeting';
    let buffer = Buffer.alloc(0);
    let replyCode: number | null = null;
    let reply = '';
    const finish = () => {
      socket.destroy();
      resolve({ replyCode, reply });
    };
    // Only a bound for a SOCKS server that never answers: ssh answers a refused channel by itself.
    const timer = setTimeout(finish, 30_000);
    socket.once('connect', () => socket.write(Buffer.from([5, 1, 0])));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 'greeting' && buffer.length >= 2) {
        buffer = buffer.subarray(2);
        stage = 'connect';
        socket.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, targetPort >> 8, targetPort & 0xff]));
      } else if (stage === 'connect' && buffer.length >= 2) {
        replyCode = buffer[1] ?? null;
        stage = 'data';
        socket.write(text);
      } else if (stage === 'data') {
        reply += chunk.toString('latin1');
      }
    });
    socket.once('error', () => {
      clearTimeout(timer);
      finish();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      finish();
    });
  });
}

const SWAP_REMOTE_COMMAND = fileURLToPath(new URL('../fixtures/attack/swap-remote-command', import.meta.url));

/**
 * A BORG_RSH that swaps the command borg sends over ssh (`borg serve --umask=077 …`)
 * for another one: what a VM does to widen its forced command. The script is
 * copied into the client's directory (BORG_RSH is split at spaces).
 */
export async function commandSwappingRsh(client: BorgClient): Promise<(remoteCommand: string) => Record<string, string>> {
  const script = `${client.dir}/swap-remote-command`;
  await copyFile(SWAP_REMOTE_COMMAND, script);
  await chmod(script, 0o755);
  const rsh = `${script} ${clientSshOptions(client).join(' ')}`;
  return (remoteCommand) => ({ BORG_RSH: rsh, ATTACK_REMOTE_COMMAND: remoteCommand });
}

/**
 * A Unix socket that relays every connection to 127.0.0.1:port. A client in a
 * network namespace of its own has no network at all, but filesystem sockets
 * cross network namespaces: this is how it reaches sshd.
 */
export async function unixRelay(path: string, port: number): Promise<{ path: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((incoming) => {
    const outgoing = createConnection({ port, host: '127.0.0.1' });
    for (const socket of [incoming, outgoing]) {
      sockets.add(socket);
      socket.on('error', () => {
        incoming.destroy();
        outgoing.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    incoming.pipe(outgoing).pipe(incoming);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(path, { force: true });
    },
  };
}

const TUNNEL_TRAFFIC = fileURLToPath(new URL('../fixtures/attack/tunnel-traffic.py', import.meta.url));

/** The server's end of a tunnel attempt: a tun device, its address, and the client address it points to. */
export interface ServerTunnelDevice {
  readonly number: number;
  readonly name: string;
  readonly serverAddress: string;
  readonly clientAddress: string;
  remove(): Promise<void>;
}

/**
 * What an admin who meant to allow tunnels would set up, so that only sshd's
 * PermitTunnel stands between a host and the server's network:
 * - a persistent tun device owned by the host's UID, addressed and up, in this
 *   machine's network namespace (the sandbox's sshd shares it). sshd opens the
 *   device with the user's rights, so it could never create one, only attach;
 * - in the sandbox's mount namespace only, a 0666 /dev/net/tun (the usual mode;
 *   this machine's is 0600, which alone would keep the user out).
 * Number and addresses derive from the sandbox's ssh port, so that concurrent
 * sandboxes do not clash. Checks that the host user can attach to the device.
 */
export async function createServerTunnelDevice(sandbox: Sandbox, uid: number): Promise<ServerTunnelDevice> {
  const number = sandbox.sshPort;
  const name = `tun${number}`;
  const octets = `${number >> 8}.${number & 0xff}`;
  const exists = () => existsSync(`/sys/class/net/${name}`);
  const ip = (arguments_: string[]) => execa('ip', arguments_, { env: { PATH: SYSTEM_PATH }, extendEnv: false });
  if (exists()) throw new Error(`${name} already exists on this machine`);
  const device: ServerTunnelDevice = {
    number,
    name,
    serverAddress: `10.77.${octets}`,
    clientAddress: `10.78.${octets}`,
    async remove() {
      await sandbox.exec(['sh', '-c', 'if mountpoint -q /dev/net/tun; then umount /dev/net/tun; fi; rm -f /srv/dev-net-tun'], {
        reject: false,
      });
      if (exists()) await ip(['link', 'delete', name]);
    },
  };
  try {
    await ip(['tuntap', 'add', 'dev', name, 'mode', 'tun', 'user', String(uid)]);
    await ip(['address', 'add', device.serverAddress, 'peer', device.clientAddress, 'dev', name]);
    await ip(['link', 'set', name, 'up']);
    // 10:200 is the tun device's fixed (misc) major and minor number.
    await sandbox.exec(['mknod', '-m', '0666', '/srv/dev-net-tun', 'c', '10', '200']);
    await sandbox.exec(['mount', '--bind', '/srv/dev-net-tun', '/dev/net/tun']);
    await sandbox.exec([
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${uid}`,
      '--clear-groups',
      '/usr/bin/python3',
      TUNNEL_TRAFFIC,
      'attach',
      name,
    ]);
    return device;
  } catch (error) {
    await device.remove();
    throw error;
  }
}

export interface TunnelTraffic {
  connected: boolean;
  /** What the far end sent back, if anything. */
  reply: string;
  attempts: number;
  /** The last connection error (`timed out`, …). */
  error: string;
  /** Everything ssh (-v) wrote. */
  sshOutput: string;
}

/**
 * `ssh -w 0:N` from a network namespace of its own (tun0 there, CLIENT peer
 * SERVER), then TCP connections to SERVER:port for `seconds`. From that
 * namespace, the only way to SERVER is through the tunnel: in one namespace
 * the kernel would deliver the packets locally, tunnel or not.
 */
export async function tryTunnelTraffic(
  client: BorgClient,
  destination: SshDestination,
  target: { device: ServerTunnelDevice; port: number; seconds: number },
): Promise<TunnelTraffic> {
  const relay = await unixRelay(`${client.dir}/sshd-relay.sock`, destination.port);
  const { device, port, seconds } = target;
  try {
    const ssh = [
      // If the script is killed, ssh must not stay behind in the namespace.
      'setpriv',
      '--pdeathsig',
      'SIGKILL',
      '--',
      'ssh',
      ...clientSshOptions(client),
      '-v',
      '-N',
      '-o',
      `ProxyCommand=/usr/bin/python3 ${TUNNEL_TRAFFIC} proxy ${relay.path}`,
      '-o',
      'ProxyUseFdpass=yes',
      '-o',
      'Tunnel=point-to-point',
      '-w',
      `0:${device.number}`,
      ...destinationArguments(destination),
    ];
    const script = [
      '/usr/bin/python3',
      TUNNEL_TRAFFIC,
      'attempt',
      device.clientAddress,
      device.serverAddress,
      String(port),
      String(seconds),
    ];
    const result = await execa('unshare', ['--net', '--', ...script, '--', ...ssh], {
      env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: client.homeDir },
      extendEnv: false,
      reject: false,
      timeout: (seconds + 15) * 1000,
      cwd: client.dir,
    });
    const report = String(result.stdout).trim().split('\n').pop() ?? '';
    if (!report.startsWith('{')) throw new Error(`tunnel-traffic.py exited with ${result.exitCode}:\n${result.stderr}`);
    return { ...(JSON.parse(report) as Omit<TunnelTraffic, 'sshOutput'>), sshOutput: String(result.stderr) };
  } finally {
    await relay.close();
  }
}
