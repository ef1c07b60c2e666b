import { randomUUID } from 'node:crypto';
import { execa } from 'execa';
import { waitFor } from './wait-for.js';

/**
 * One bash that reads what it is given, block after block, as a person's
 * terminal does: a variable set or a file read in one block is there for the
 * next. Each block runs with standard input from /dev/null (so that a command
 * in it cannot eat the blocks after it) and its standard error in its output.
 */

export interface ShellSession {
  /** Runs the lines; resolves with their output once they are done, or throws with it when they fail. */
  run(lines: string, options?: { timeoutMs?: number }): Promise<string>;
  /** Everything the shell printed so far. */
  output(): string;
  /** Ends the shell (end of input), killing it if it does not end by itself. */
  close(): Promise<void>;
}

/** `prefix` is what runs bash (as `nsenter … --`), or nothing. */
export function startShellSession(prefix: string[], options: { env: Record<string, string>; cwd: string }): ShellSession {
  const [file = 'bash', ...arguments_] = [...prefix, 'bash', '--noprofile', '--norc'];
  const shell = execa(file, arguments_, {
    env: options.env,
    extendEnv: false,
    cwd: options.cwd,
    stdin: 'pipe',
    buffer: false,
    reject: false,
  });
  let printed = '';
  let hasExited = false;
  const collect = (chunk: Buffer) => {
    printed += chunk.toString();
  };
  shell.stdout?.on('data', collect);
  shell.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    shell.once('exit', () => {
      hasExited = true;
      resolve();
    });
  });

  return {
    async run(lines, runOptions = {}) {
      const marker = `@@block-done-${randomUUID()}`;
      const start = printed.length;
      shell.stdin?.write(`{\n${lines}\n} < /dev/null 2>&1\nprintf '\\n%s %d\\n' '${marker}' "$?"\n`);
      const [output, status] = await waitFor(
        () => `the end of this block:\n${lines}\nit printed:\n${printed.slice(start)}`,
        () => {
          const match = new RegExp(`\\n?\\n${marker} (\\d+)\\n`).exec(printed.slice(start));
          if (match) return [printed.slice(start, start + match.index), Number(match[1])] as const;
          if (hasExited) throw new Error(`the shell ended in this block:\n${lines}\nit printed:\n${printed.slice(start)}`);
          return undefined;
        },
        runOptions.timeoutMs ?? 120_000,
      );
      if (status !== 0) throw new Error(`this block exited with ${status}:\n${lines}\nit printed:\n${output}`);
      return output;
    },
    output: () => printed,
    async close() {
      shell.stdin?.end();
      const timer = setTimeout(() => shell.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
