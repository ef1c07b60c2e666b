import { appendFile, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { SYSTEM_PATH } from './system-path.js';

/**
 * A private mount namespace for system tests: real users, real sshd, real
 * borg, and nothing of this machine's /etc, /srv or /run touched.
 *
 * Inside the namespace (created with `unshare --mount --propagation private`):
 * - /etc is an overlay whose upper layer lives on a private tmpfs, so useradd,
 *   passwd/group/shadow and sshd configuration changes stay in the sandbox;
 * - /srv is a private tmpfs holding /srv/state and /srv/backups (not under /tmp:
 *   sshd's StrictModes refuses key files below a world-writable directory);
 * - /run is a private, empty tmpfs: `borgctl serve` makes /run/sshd (sshd's
 *   privilege separation directory, which sshd refuses to start without) there.
 *
 * A keeper process (`sleep infinity`) holds the namespace open; commands enter
 * it with `nsenter --mount --target KEEPER`. The namespace therefore outlives
 * the server, which can be stopped and started again in the same sandbox.
 *
 * Found while building it (borg 1.2.4, OpenSSH 9.2p1, Debian 12):
 * - `borg serve` needs neither a writable home nor BORG_BASE_DIR on the server
 *   side: with the home `root:NAME 0710` it only stats ~/.local/lib/python3.11
 *   (absent) and writes its temporary files (index transfer) to /tmp, which must
 *   therefore be writable by the host users.
 * - sshd gives each session its own session id (setsid), so killing sshd's
 *   process group does not end open sessions; `stop()` looks for every process
 *   in the namespace instead, and reports what it had to kill.
 * - The namespace shares the machine's network: sshd and the API listen on
 *   ports of this machine (hence free loopback ports, picked per sandbox).
 */

export const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BORGCTL_PATH = join(REPOSITORY_ROOT, 'bin/borgctl');

export const SANDBOX_STATE_DIR = '/srv/state';
export const SANDBOX_BACKUP_DIR = '/srv/backups';
export const SANDBOX_API_USER = 'borg-api';

const BASE_ENVIRONMENT = { PATH: SYSTEM_PATH, LANG: 'C.UTF-8' };
const DEFAULT_TIMEOUT_MS = 60_000;
const OUTPUT_LIMIT_CHARACTERS = 1_000_000;

export interface CommandOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Throw when the command fails (default true). */
  reject?: boolean;
}

export interface CommandResult {
  command: string[];
  exitCode: number | undefined;
  signal: string | undefined;
  failed: boolean;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
}

/** A long-running process started inside the sandbox, in its own process group. */
export interface SandboxProcess {
  readonly pid: number;
  readonly command: string[];
  /** Everything it wrote to stdout and stderr so far, interleaved. */
  output(): string;
  hasExited(): boolean;
  readonly exited: Promise<ProcessExit>;
  /** SIGTERM, then SIGKILL to the whole process group after `graceMs`. */
  stop(options?: { graceMs?: number }): Promise<ProcessExit & { wasKilled: boolean }>;
}

export interface ServerOptions {
  /** Environment added to (or overriding) the server's. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface SandboxProcessInfo {
  pid: number;
  name: string;
  commandLine: string;
}

export interface StopReport {
  /** Processes still alive in the namespace once the started ones had stopped (then killed). */
  leftoverProcesses: SandboxProcessInfo[];
}

export interface Sandbox {
  readonly keeperPid: number;
  readonly stateDir: string;
  readonly backupDir: string;
  readonly sshPort: number;
  readonly httpPort: number;
  /** http://127.0.0.1:HTTP_PORT */
  readonly baseUrl: string;
  /** The environment `borgctl serve` and `sandbox.borgctl` get. */
  readonly serverEnvironment: Record<string, string>;
  /** Runs a command inside the namespace (argument array, no shell, explicit env). */
  exec(command: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Runs `bin/borgctl ARGS` inside the namespace with the server's environment. */
  borgctl(arguments_: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Starts a long-running command inside the namespace. */
  spawn(command: string[], options?: { env?: Record<string, string> }): SandboxProcess;
  /** Starts `borgctl serve` and waits until SSH and HTTP accept connections and /healthz answers. */
  startServer(options?: ServerOptions): Promise<SandboxProcess>;
  readonly server: SandboxProcess | undefined;
  /** Writes a file inside the namespace (root-owned unless `owner` says otherwise). */
  writeFile(path: string, content: string, options?: { mode?: string; owner?: string }): Promise<void>;
  readFile(path: string): Promise<string>;
  /** Regular files below `directory`, sorted, as absolute paths. */
  listFiles(directory: string): Promise<string[]>;
  /** Processes whose mount namespace is this sandbox's, the keeper (and its unshare parent) excluded. */
  processesInside(): Promise<SandboxProcessInfo[]>;
  /** Stops every process it started, kills what is left, drops the namespace, removes temp dirs. */
  stop(): Promise<StopReport>;
}

export interface SandboxOptions {
  /** Create the API user `borg-api` (default true). */
  createApiUser?: boolean;
  /**
   * Sizes (tmpfs `size=`, such as `64m`) for a state and a backup directory of their own: each then is a
   * file system of its own that a test can fill (ENOSPC), apart from the other. Without, both share /srv's tmpfs.
   */
  volumeSizes?: { state?: string; backup?: string };
  /** Settings added to the server's environment: what `borgctl serve` and every `sandbox.borgctl` get, as a container's environment is. */
  environment?: Record<string, string>;
}

/**
 * Mount namespace identities of the sandboxes this test process made that may
 * still hold processes, for leak checks. A namespace is dropped once its
 * sandbox stopped and saw it empty: the kernel then frees it and may give its
 * number to a new namespace (another test's sandbox), which must not count.
 */
const createdNamespaces = new Set<string>();

/**
 * The global setup names a directory here; each sandbox writes its namespace
 * identity into it when it starts, and again with a leading `-` when it stopped
 * with the namespace empty, so that the teardown can look for leaked processes
 * of every test file (tests run in several worker processes).
 */
export const SANDBOX_REGISTRY_VARIABLE = 'BORG_SANDBOX_REGISTRY_DIR';
const REGISTRY_FILE = 'namespaces';

async function recordInRegistry(line: string): Promise<void> {
  const registryDir = process.env[SANDBOX_REGISTRY_VARIABLE];
  if (registryDir) await appendFile(join(registryDir, REGISTRY_FILE), `${line}\n`);
}

async function registerNamespace(namespace: string): Promise<void> {
  createdNamespaces.add(namespace);
  await recordInRegistry(namespace);
}

async function registerEmptiedNamespace(namespace: string): Promise<void> {
  createdNamespaces.delete(namespace);
  await recordInRegistry(`-${namespace}`);
}

/** The namespaces sandboxes of this run registered and did not see empty at their stop (read by the global teardown). */
export async function registeredNamespaces(registryDir: string): Promise<string[]> {
  const content = await readFile(join(registryDir, REGISTRY_FILE), 'utf8').catch(() => '');
  const open = new Map<string, number>();
  for (const line of content.split('\n').filter(Boolean)) {
    const namespace = line.replace(/^-/, '');
    open.set(namespace, (open.get(namespace) ?? 0) + (line.startsWith('-') ? -1 : 1));
  }
  return [...open].filter(([, count]) => count > 0).map(([namespace]) => namespace);
}

export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const { createApiUser = true, volumeSizes = {}, environment = {} } = options;
  const temporaryDir = await mkdtemp(join(tmpdir(), 'borg-sandbox-'));
  const scratchDir = join(temporaryDir, 'scratch');
  const started: SandboxProcess[] = [];
  let keeper: ResultPromise | undefined;
  try {
    await mkdir(scratchDir, { mode: 0o700 });
    keeper = startKeeper(scratchDir, volumeSizes);
    const keeperPid = await waitForKeeper(keeper);
    // unshare itself entered the namespace before it forked the keeper.
    const holderPids = [keeper.pid as number, keeperPid];
    const namespace = await readlink(`/proc/${keeperPid}/ns/mnt`);
    await registerNamespace(namespace);
    const [sshPort = 0, httpPort = 0] = await pickFreePorts(2);
    const baseUrl = `http://127.0.0.1:${httpPort}`;
    const serverEnvironment: Record<string, string> = {
      ...BASE_ENVIRONMENT,
      PATH: `${SYSTEM_PATH}:${join(process.execPath, '..')}`,
      HOME: '/root',
      BORG_SERVER_STATE_DIR: SANDBOX_STATE_DIR,
      BORG_SERVER_BACKUP_DIR: SANDBOX_BACKUP_DIR,
      BORG_SERVER_SSH_PORT: String(sshPort),
      BORG_SERVER_SSH_HOST: '127.0.0.1',
      BORG_SERVER_SSH_LISTEN_ADDRESS: '127.0.0.1',
      BORG_SERVER_HTTP_HOST: '127.0.0.1',
      BORG_SERVER_HTTP_PORT: String(httpPort),
      BORG_SERVER_PUBLIC_URL: baseUrl,
      BORG_SERVER_API_USER: SANDBOX_API_USER,
      ...environment,
    };
    const enter = (command: string[]) => ['--mount', `--target=${keeperPid}`, '--', ...command];

    const exec: Sandbox['exec'] = async (command, commandOptions = {}) => {
      const result = await execa('nsenter', enter(command), {
        input: commandOptions.input ?? '',
        env: { ...BASE_ENVIRONMENT, ...commandOptions.env },
        extendEnv: false,
        timeout: commandOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        reject: false,
        stripFinalNewline: false,
      });
      const commandResult: CommandResult = {
        command,
        exitCode: result.exitCode,
        signal: result.signal,
        failed: result.failed,
        timedOut: result.timedOut,
        stdout: String(result.stdout),
        stderr: String(result.stderr),
      };
      if (commandResult.failed && commandOptions.reject !== false) throw new SandboxCommandFailed(commandResult);
      return commandResult;
    };

    const spawn: Sandbox['spawn'] = (command, spawnOptions = {}) => {
      const process_ = startProcess(['nsenter', ...enter(['setpriv', '--pdeathsig', 'SIGTERM', '--', ...command])], command, {
        ...BASE_ENVIRONMENT,
        ...spawnOptions.env,
      });
      started.push(process_);
      return process_;
    };

    const sandbox: Sandbox = {
      keeperPid,
      stateDir: SANDBOX_STATE_DIR,
      backupDir: SANDBOX_BACKUP_DIR,
      sshPort,
      httpPort,
      baseUrl,
      serverEnvironment,
      exec,
      borgctl: (arguments_, commandOptions = {}) =>
        exec([process.execPath, BORGCTL_PATH, ...arguments_], {
          ...commandOptions,
          env: { ...serverEnvironment, ...commandOptions.env },
        }),
      spawn,
      server: undefined,
      async startServer(serverOptions = {}) {
        if (sandbox.server && !sandbox.server.hasExited()) throw new Error('the sandbox server is already running');
        const server = spawn([process.execPath, BORGCTL_PATH, 'serve'], { env: { ...serverEnvironment, ...serverOptions.env } });
        (sandbox as { server: SandboxProcess | undefined }).server = server;
        await waitUntilReady(server, sandbox, serverOptions.readyTimeoutMs ?? 60_000);
        return server;
      },
      async writeFile(path, content, fileOptions = {}) {
        await exec(['tee', path], { input: content });
        await exec(['chmod', fileOptions.mode ?? '0644', path]);
        if (fileOptions.owner) await exec(['chown', fileOptions.owner, path]);
      },
      async readFile(path) {
        return (await exec(['cat', path])).stdout;
      },
      async listFiles(directory) {
        const result = await exec(['find', directory, '-type', 'f']);
        return result.stdout.split('\n').filter(Boolean).sort();
      },
      processesInside: () => processesInNamespace(namespace, holderPids),
      async stop() {
        for (const process_ of started) await process_.stop();
        const leftoverProcesses = await processesInNamespace(namespace, holderPids);
        for (const leftover of leftoverProcesses) killQuietly(leftover.pid, 'SIGKILL');
        await stopKeeper(keeper);
        if (await waitForNamespaceToEmpty(namespace)) await registerEmptiedNamespace(namespace);
        await rm(temporaryDir, { recursive: true, force: true });
        return { leftoverProcesses };
      },
    };

    if (createApiUser) {
      await exec([
        'useradd',
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        SANDBOX_API_USER,
      ]);
    }
    return sandbox;
  } catch (error) {
    for (const process_ of started) await process_.stop();
    await stopKeeper(keeper);
    await rm(temporaryDir, { recursive: true, force: true });
    throw error;
  }
}

export class SandboxCommandFailed extends Error {
  constructor(readonly result: CommandResult) {
    super(
      `${result.command.join(' ')} ${result.timedOut ? 'timed out' : `exited with ${result.exitCode ?? result.signal}`}\n` +
        `stdout: ${result.stdout.slice(-4000)}\nstderr: ${result.stderr.slice(-4000)}`,
    );
    this.name = 'SandboxCommandFailed';
  }
}

/**
 * The namespace keeper: `unshare` makes the namespace and forks a shell that
 * mounts, says "ready" and becomes `sleep infinity`. `setpriv --pdeathsig` and
 * `--kill-child` make the keeper die with the test process, even a killed one.
 */
function startKeeper(scratchDir: string, volumeSizes: NonNullable<SandboxOptions['volumeSizes']>): ResultPromise {
  const sized = (directory: string, name: string, size: string | undefined) =>
    size === undefined ? [] : [`mount -t tmpfs -o size=${size},mode=0755 ${name} ${directory}`];
  const script = [
    'set -eu',
    'scratch="$1"',
    'mount -t tmpfs -o mode=0700 sandbox-scratch "$scratch"',
    'mkdir "$scratch/etc-upper" "$scratch/etc-work"',
    'mount -t overlay sandbox-etc -o "lowerdir=/etc,upperdir=$scratch/etc-upper,workdir=$scratch/etc-work" /etc',
    'mount -t tmpfs -o mode=0755 sandbox-srv /srv',
    `mkdir -m 0755 ${SANDBOX_STATE_DIR} ${SANDBOX_BACKUP_DIR}`,
    ...sized(SANDBOX_STATE_DIR, 'sandbox-state', volumeSizes.state),
    ...sized(SANDBOX_BACKUP_DIR, 'sandbox-backups', volumeSizes.backup),
    'mount -t tmpfs -o mode=0755 sandbox-run /run',
    'echo ready',
    'exec sleep infinity',
  ].join('\n');
  return execa(
    'setpriv',
    [
      '--pdeathsig',
      'SIGKILL',
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--kill-child=SIGKILL',
      '--',
      '/bin/sh',
      '-c',
      script,
      'sandbox-keeper',
      scratchDir,
    ],
    { env: BASE_ENVIRONMENT, extendEnv: false, detached: true, stdin: 'ignore', buffer: false, reject: false },
  );
}

/** Resolves with the keeper's pid (unshare's one child) once the mounts are made. */
async function waitForKeeper(keeper: ResultPromise): Promise<number> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the sandbox keeper did not start: ${output}`)), 30_000);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    };
    keeper.stdout?.on('data', collect);
    keeper.stderr?.on('data', collect);
    keeper.then((result) => {
      clearTimeout(timer);
      reject(new Error(`the sandbox keeper exited with ${result.exitCode ?? result.signal}: ${output}`));
    });
  });
  const unsharePid = keeper.pid as number;
  const children = await childProcessIds(unsharePid);
  if (children.length !== 1) throw new Error(`expected unshare to have one child, found ${children.length}`);
  return children[0] as number;
}

async function childProcessIds(pid: number): Promise<number[]> {
  const result = await execa('cat', [`/proc/${pid}/task/${pid}/children`], { reject: false });
  return String(result.stdout).split(/\s+/).filter(Boolean).map(Number);
}

async function stopKeeper(keeper: ResultPromise | undefined): Promise<void> {
  if (!keeper?.pid) return;
  killQuietly(-keeper.pid, 'SIGKILL');
  await keeper;
}

function startProcess(fullCommand: string[], command: string[], env: Record<string, string>): SandboxProcess {
  const chunks: string[] = [];
  let outputLength = 0;
  let exitedValue: ProcessExit | undefined;
  const subprocess = execa(fullCommand[0] as string, fullCommand.slice(1), {
    env,
    extendEnv: false,
    detached: true,
    stdin: 'ignore',
    buffer: false,
    reject: false,
  });
  const collect = (chunk: Buffer) => {
    if (outputLength > OUTPUT_LIMIT_CHARACTERS) return;
    chunks.push(chunk.toString());
    outputLength += chunk.length;
  };
  subprocess.stdout?.on('data', collect);
  subprocess.stderr?.on('data', collect);
  const pid = subprocess.pid as number;
  // 'exit', not execa's result: a grandchild in another session (sshd's sessions) may
  // hold the output pipes open long after the process itself has ended.
  const exited = new Promise<ProcessExit>((resolve) => {
    subprocess.once('exit', (code, signal) => {
      exitedValue = { exitCode: code ?? undefined, signal: signal ?? undefined };
      resolve(exitedValue);
    });
    subprocess.once('error', () => {
      exitedValue ??= { exitCode: undefined, signal: undefined };
      resolve(exitedValue);
    });
  });
  subprocess.catch(() => undefined);
  return {
    pid,
    command,
    output: () => chunks.join(''),
    hasExited: () => exitedValue !== undefined,
    exited,
    async stop({ graceMs = 15_000 } = {}) {
      if (exitedValue) {
        killQuietly(-pid, 'SIGKILL');
        return { ...exitedValue, wasKilled: false };
      }
      killQuietly(pid, 'SIGTERM');
      const exit = await Promise.race([exited, sleep(graceMs).then(() => undefined)]);
      // Whatever is left of its process group goes too (children that ignored the signal).
      killQuietly(-pid, 'SIGKILL');
      return { ...(exit ?? (await exited)), wasKilled: exit === undefined };
    },
  };
}

async function waitUntilReady(server: SandboxProcess, sandbox: Sandbox, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const checks = [
    () => canConnect(sandbox.sshPort),
    () => canConnect(sandbox.httpPort),
    async () => {
      const response = await fetch(`${sandbox.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
      return response.ok;
    },
  ];
  for (const check of checks) {
    while (!(await check().catch(() => false))) {
      if (server.hasExited()) {
        throw new Error(`borgctl serve exited with ${JSON.stringify(await server.exited)} before it was ready:\n${server.output()}`);
      }
      if (Date.now() > deadline) throw new Error(`borgctl serve was not ready after ${timeoutMs} ms:\n${server.output()}`);
      await sleep(100);
    }
  }
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Ports the kernel hands out for port 0 on the loopback address, all held open until all are known. */
export async function pickFreePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function processesInNamespace(namespace: string, excludedPids: number[]): Promise<SandboxProcessInfo[]> {
  const found: SandboxProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (excludedPids.includes(pid)) continue;
    try {
      if ((await readlink(`/proc/${pid}/ns/mnt`)) !== namespace) continue;
      found.push(await describeProcess(pid));
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}

async function describeProcess(pid: number): Promise<SandboxProcessInfo> {
  const name = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  const commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
  return { pid, name, commandLine };
}

/**
 * How long killed processes get to be gone: a SIGKILLed process ends only once the kernel runs
 * it, which on a busy machine can take a while. Only a process that never ends waits this long.
 */
const KILLED_PROCESSES_GONE_MS = 15_000;

/** Whether the namespace's last process is gone (within KILLED_PROCESSES_GONE_MS). */
async function waitForNamespaceToEmpty(namespace: string): Promise<boolean> {
  const deadline = Date.now() + KILLED_PROCESSES_GONE_MS;
  for (;;) {
    if ((await processesInNamespace(namespace, [])).length === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/**
 * sshd processes living in any sandbox this test process created (or, given
 * `namespaces`, in those). A namespace lives on as long as one of its processes
 * does, so a leaked sshd shows up here even after its sandbox was stopped.
 */
export async function sshdProcessesInSandboxes(namespaces: Iterable<string> = createdNamespaces): Promise<SandboxProcessInfo[]> {
  const wanted = new Set(namespaces);
  let found: SandboxProcessInfo[] = [];
  // Killed processes linger a moment before they end (and as zombies, whose namespace link is gone).
  const deadline = Date.now() + KILLED_PROCESSES_GONE_MS;
  for (;;) {
    found = [];
    for (const namespace of wanted) {
      for (const info of await processesInNamespace(namespace, [])) {
        if (info.name === 'sshd') found.push(info);
      }
    }
    if (found.length === 0 || Date.now() > deadline) return found;
    await sleep(100);
  }
}

/**
 * `pgrep -x sshd` on this machine, leaving out `ignoredPids` (for example the
 * ones that ran before the tests), with zombies given a moment to be reaped.
 */
export async function sshdProcessIds(ignoredPids: ReadonlySet<number> = new Set()): Promise<number[]> {
  // Only for a warning (others may run sshd on this machine): a short look, not the full wait.
  let pids: number[] = [];
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const result = await execa('pgrep', ['-x', 'sshd'], { reject: false });
    pids = String(result.stdout)
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((pid) => !ignoredPids.has(pid));
    if (pids.length === 0) return pids;
    await sleep(100);
  }
  return pids;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
