import { createInterface } from 'node:readline';
import { execa, execaNode, type ResultPromise } from 'execa';
import { AppError } from '../errors.js';

/**
 * The one place that starts processes: absolute paths, argument arrays, no
 * shell, a minimal environment and a timeout on every short command.
 */

export interface RunOptions {
  timeoutMs: number;
  input?: string;
  env?: Record<string, string>;
  /** Argument positions whose values are secrets, masked in errors. */
  secretArguments?: number[];
  /** Run as this user and group (root only): work on a host's files as the host. */
  uid?: number;
  gid?: number;
  /** Working directory (one the `uid` may enter). */
  cwd?: string;
  /** Ends the command (SIGTERM, then SIGKILL after `forceKillAfterMs`); it then fails with `isCanceled`. */
  cancelSignal?: AbortSignal;
  forceKillAfterMs?: number;
  /** Told the process id once it started (to tell it apart from others of the same UID). */
  onStart?: (pid: number) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export type Run = (file: string, arguments_: string[], options: RunOptions) => Promise<RunResult>;

const BASE_ENVIRONMENT = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export class CommandFailed extends AppError {
  constructor(
    readonly file: string,
    readonly exitCode: number | undefined,
    readonly timedOut: boolean,
    readonly stderr: string,
    readonly isCanceled = false,
  ) {
    super('COMMAND_FAILED', `${file} ${timedOut ? 'timed out' : `exited with ${exitCode ?? 'a signal'}`}`);
  }
}

export function maskArguments(arguments_: string[], secretArguments: number[] = []): string[] {
  return arguments_.map((value, index) => (secretArguments.includes(index) ? '***' : value));
}

export const run: Run = async (file, arguments_, options) => {
  if (!file.startsWith('/')) throw new TypeError(`run needs an absolute path, got ${file}`);
  try {
    const subprocess = execa(file, arguments_, {
      timeout: options.timeoutMs,
      input: options.input,
      env: { ...BASE_ENVIRONMENT, ...options.env },
      extendEnv: false,
      stripFinalNewline: false,
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.cancelSignal ? { cancelSignal: options.cancelSignal } : {}),
      ...(options.forceKillAfterMs === undefined ? {} : { forceKillAfterDelay: options.forceKillAfterMs }),
    });
    if (subprocess.pid !== undefined) options.onStart?.(subprocess.pid);
    const result = await subprocess;
    return { stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    const failure = error as { exitCode?: number; timedOut?: boolean; isCanceled?: boolean; stderr?: string };
    throw new CommandFailed(
      file,
      failure.exitCode,
      failure.timedOut ?? false,
      String(failure.stderr ?? '').slice(0, 4000),
      failure.isCanceled ?? false,
    );
  }
};

export interface ChildOptions {
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  /** Run a Node.js script (with this Node). No IPC channel: the API talks to root over its Unix socket. */
  isNodeScript?: boolean;
  /** Each line the child writes to its standard error, which still joins ours. */
  onStderrLine?: (line: string) => void;
}

/** A running child process: a promise of its result, with kill/on from Node's ChildProcess. */
export type Child = ResultPromise;

/** A long-running child (sshd, the API) whose output joins ours. */
export function startChild(file: string, arguments_: string[], options: ChildOptions): Child {
  const common = {
    env: { ...BASE_ENVIRONMENT, ...options.env },
    extendEnv: false,
    stdin: 'ignore' as const,
    stdout: 'inherit' as const,
    stderr: 'inherit' as const,
    uid: options.uid,
    gid: options.gid,
    reject: false,
  };
  if (options.isNodeScript) return execaNode(file, arguments_, { ...common, ipc: false });
  const { onStderrLine } = options;
  if (onStderrLine === undefined) return execa(file, arguments_, common);
  const child = execa(file, arguments_, { ...common, stderr: 'pipe', buffer: { stderr: false } });
  // Read as it comes, so that the child never waits on a full pipe; each line goes on to our standard error.
  createInterface({ input: child.stderr, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    process.stderr.write(`${line}\n`);
    onStderrLine(line);
  });
  // The child's own children (sshd's per-connection processes) hold the pipe open after it exits: its end is its
  // exit, not the pipe's end, or whoever waits for it would wait for them too.
  child.on('exit', () => child.stderr.destroy());
  return child;
}
