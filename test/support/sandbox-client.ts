import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import type { CommandResult } from './sandbox.js';
import { SYSTEM_PATH } from './system-path.js';

/**
 * The borg client side of a system test: a VM's point of view. It runs
 * OUTSIDE the sandbox namespace, as this machine's root, but with its own HOME,
 * BORG_BASE_DIR, key and known_hosts in a temporary directory, so nothing of
 * this machine's root account (~/.ssh, ~/.config/borg, ~/.cache/borg) is read
 * or written.
 */

export interface BorgClient {
  readonly name: string;
  /** The temporary directory holding everything below. */
  readonly dir: string;
  readonly homeDir: string;
  readonly keyPath: string;
  /** One line, `ssh-ed25519 AAAA… COMMENT`, without a newline. */
  readonly publicKey: string;
  /** `SHA256:…`, as sshd logs it and the API reports it. */
  readonly fingerprint: string;
  readonly knownHostsPath: string;
  /** Files to back up: `dataDir/hello.txt` and `dataDir/nested/data.bin`. */
  readonly dataDir: string;
  /** The ssh command line borg gets as BORG_RSH. */
  readonly rsh: string;
  /** The environment `run` gives borg (HOME, BORG_BASE_DIR, BORG_RSH, …). */
  readonly environment: Record<string, string>;
  /** Runs `borg ARGS`; never throws on a failed command. */
  run(arguments_: string[], options?: ClientCommandOptions): Promise<CommandResult>;
  /** Runs `ssh … -p PORT USER@HOST REMOTE_COMMAND…` with the client's key and known_hosts. */
  ssh(
    destination: SshDestination,
    remoteCommand?: string[],
    options?: ClientCommandOptions & { sshOptions?: string[] },
  ): Promise<CommandResult>;
  /** Replaces known_hosts with these lines (for example the API's `knownHosts`). */
  writeKnownHosts(lines: string[]): Promise<void>;
  /** Fetches `GET BASE_URL/v1/server` and trusts the host keys it lists. */
  trustServer(baseUrl: string): Promise<string[]>;
  /** Removes the temporary directory. */
  remove(): Promise<void>;
}

export interface ClientCommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface SshDestination {
  user: string;
  port: number;
  host?: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

export async function createBorgClient(name = 'client'): Promise<BorgClient> {
  const dir = await mkdtemp(join(tmpdir(), `borg-client-${name}-`));
  const homeDir = join(dir, 'home');
  const keyPath = join(dir, 'id_ed25519');
  const knownHostsPath = join(dir, 'known_hosts');
  const dataDir = join(dir, 'data');
  await mkdir(homeDir, { mode: 0o700 });
  await mkdir(join(dataDir, 'nested'), { recursive: true });
  await writeFile(join(dataDir, 'hello.txt'), `hello from ${name}\n`);
  await writeFile(join(dataDir, 'nested', 'data.bin'), Buffer.from(Array.from({ length: 65_536 }, (_, index) => (index * 7) % 256)));
  await writeFile(knownHostsPath, '');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', keyPath], {
    env: { PATH: SYSTEM_PATH, HOME: homeDir },
    extendEnv: false,
  });
  const publicKey = (await readFile(`${keyPath}.pub`, 'utf8')).trim();
  const fingerprint = (
    await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyPath}.pub`], { env: { PATH: SYSTEM_PATH }, extendEnv: false })
  ).stdout.split(' ')[1] as string;

  const sshOptions = [
    '-F',
    '/dev/null',
    '-i',
    keyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHostsPath}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    // Through the banner exchange: sshd forks and execs a child per connection, slow on a busy machine.
    'ConnectTimeout=60',
  ];
  const rsh = ['ssh', ...sshOptions].join(' ');
  const environment: Record<string, string> = {
    PATH: SYSTEM_PATH,
    LANG: 'C.UTF-8',
    HOME: homeDir,
    BORG_BASE_DIR: join(dir, 'borg'),
    BORG_RSH: rsh,
    BORG_PASSPHRASE: '',
    BORG_DISPLAY_PASSPHRASE: 'no',
    // Never answer a prompt with yes: a test must not pass because borg asked nobody.
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
    BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: 'NO',
    BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'NO',
    // Except this one: a second host probing another's unencrypted repository must
    // be stopped by the server, not by its own client's "unknown repository" prompt.
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
  };

  const runCommand = async (file: string, arguments_: string[], options: ClientCommandOptions, env: Record<string, string>) => {
    const result = await execa(file, arguments_, {
      cwd: options.cwd ?? dir,
      env: { ...env, ...options.env },
      extendEnv: false,
      input: options.input ?? '',
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      reject: false,
      stripFinalNewline: false,
    });
    return {
      command: [file, ...arguments_],
      exitCode: result.exitCode,
      signal: result.signal,
      failed: result.failed,
      timedOut: result.timedOut,
      stdout: String(result.stdout),
      stderr: String(result.stderr),
    } satisfies CommandResult;
  };

  const client: BorgClient = {
    name,
    dir,
    homeDir,
    keyPath,
    publicKey,
    fingerprint,
    knownHostsPath,
    dataDir,
    rsh,
    environment,
    run: (arguments_, options = {}) => runCommand('borg', arguments_, options, environment),
    ssh: (destination, remoteCommand = [], options = {}) =>
      runCommand(
        'ssh',
        [
          ...sshOptions,
          ...(options.sshOptions ?? []),
          '-p',
          String(destination.port),
          `${destination.user}@${destination.host ?? '127.0.0.1'}`,
          ...(remoteCommand.length > 0 ? ['--', ...remoteCommand] : []),
        ],
        options,
        { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: homeDir },
      ),
    async writeKnownHosts(lines) {
      await mkdir(dirname(knownHostsPath), { recursive: true });
      await writeFile(knownHostsPath, lines.map((line) => `${line}\n`).join(''));
    },
    async trustServer(baseUrl) {
      const response = await fetch(`${baseUrl}/v1/server`);
      if (!response.ok) throw new Error(`GET /v1/server answered ${response.status}`);
      const body = (await response.json()) as { knownHosts: string[] };
      await client.writeKnownHosts(body.knownHosts);
      return body.knownHosts;
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
    },
  };
  return client;
}
