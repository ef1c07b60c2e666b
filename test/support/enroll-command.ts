import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { SYSTEM_PATH } from './system-path.js';

/**
 * The VM's side of the enroll command: the one line run in a shell as the
 * admin handed it over, what every process on the machine shows while it runs,
 * and a network that cuts the script off on its way.
 */

const FINGERPRINT_PATTERN = /SHA256:[A-Za-z0-9+/]{43}/;

export interface RunningScript {
  subprocess: ReturnType<typeof startShell>;
  stderr: () => string;
}

// The command is the one line an admin pastes into the VM's shell: run by `sh -c LINE`, or, for
// what the process list shows, typed into a shell's standard input as a person pastes it
// (`sh -c` itself holds the line among its arguments).
function startShell(command: string, homeDir: string, { isTyped = false } = {}) {
  return execa('sh', isTyped ? [] : ['-c', command], {
    env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: homeDir },
    extendEnv: false,
    cwd: homeDir,
    ...(isTyped ? { input: `${command}\n` } : { stdin: 'ignore' as const }),
    reject: false,
    timeout: 120_000,
  });
}

export function runEnrollCommand(command: string, homeDir: string, options: { isTyped?: boolean } = {}): RunningScript {
  let stderr = '';
  const subprocess = startShell(command, homeDir, options);
  subprocess.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { subprocess, stderr: () => stderr };
}

export async function waitForFingerprint(script: RunningScript): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = FINGERPRINT_PATTERN.exec(script.stderr());
    if (match) return match[0];
    if (Date.now() > deadline) throw new Error(`enroll.sh showed no fingerprint:\n${script.stderr()}`);
    await sleep(100);
  }
}

/** Every process's command line, its arguments joined by spaces, from /proc (world-readable). */
export async function commandLines(): Promise<string[]> {
  const lines: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline) lines.push(cmdline.replaceAll('\0', ' '));
  }
  return lines;
}

/** Reads every process's command line, over and over, until `running` settles; resolves with all it saw. */
export async function commandLinesWhile(running: Promise<unknown>): Promise<Set<string>> {
  const seen = new Set<string>();
  let isRunning = true;
  running.finally(() => {
    isRunning = false;
  });
  while (isRunning) {
    for (const line of await commandLines()) seen.add(line);
    await sleep(5);
  }
  return seen;
}

/** An HTTP server that plays a broken network: it serves a script cut short, and records every request. */
export async function startCuttingServer(
  scriptFor: (url: string) => string,
): Promise<{ url: string; requests: string[]; mode: { value: 'drop' | 'short' }; server: Server }> {
  const requests: string[] = [];
  const mode: { value: 'drop' | 'short' } = { value: 'drop' };
  let script = '';
  let cutAt = 0;
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    if (request.url !== '/enroll.sh') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const part = script.slice(0, cutAt);
    if (mode.value === 'short') {
      // A clean cut: complete HTTP, incomplete script (a proxy that lost the rest).
      response.writeHead(200, { 'content-length': Buffer.byteLength(part) }).end(part);
      return;
    }
    // The connection drops in the middle of the body.
    response.writeHead(200, { 'content-length': Buffer.byteLength(script) });
    response.write(part, () => response.socket?.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  script = scriptFor(url);
  // Cut just before the first thing that changes the VM: with the lines above it run, the script
  // would check the server (a GET /v1/server here) and end with status 0.
  cutAt = script.indexOf('if [ ! -f "$KEY_FILE" ]');
  return { url, requests, mode, server };
}
