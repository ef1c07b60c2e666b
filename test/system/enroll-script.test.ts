import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pickFreePorts } from '../support/sandbox.js';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';

/**
 * The whole flow as a VM sees it: the admin hands over the one line the API
 * made, the VM runs it (`enroll=$(curl -fsS URL/enroll.sh) && printf … | BORG_ENROLL_TOKEN=T sh -s --`)
 * with a fresh HOME, the admin approves the fingerprint the script shows, and
 * the VM backs up with the BORG_REPO and BORG_RSH lines the script prints. The
 * line's exit status tells a provisioning tool whether the VM was enrolled.
 */

const FINGERPRINT_PATTERN = /SHA256:[A-Za-z0-9+/]{43}/;

interface RunningScript {
  subprocess: ReturnType<typeof startShell>;
  stderr: () => string;
}

// The command is the one line an admin pastes into the VM's shell: run by `sh -c LINE`, or, for
// what the process list shows, typed into a shell's standard input as a person pastes it
// (`sh -c` itself holds the line among its arguments).
function startShell(command: string, homeDir: string, { isTyped = false } = {}) {
  return execa('sh', isTyped ? [] : ['-c', command], {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: homeDir },
    extendEnv: false,
    cwd: homeDir,
    ...(isTyped ? { input: `${command}\n` } : { stdin: 'ignore' as const }),
    reject: false,
    timeout: 120_000,
  });
}

function runEnrollCommand(command: string, homeDir: string, options: { isTyped?: boolean } = {}): RunningScript {
  let stderr = '';
  const subprocess = startShell(command, homeDir, options);
  subprocess.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { subprocess, stderr: () => stderr };
}

async function waitForFingerprint(script: RunningScript): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = FINGERPRINT_PATTERN.exec(script.stderr());
    if (match) return match[0];
    if (Date.now() > deadline) throw new Error(`enroll.sh showed no fingerprint:\n${script.stderr()}`);
    await sleep(100);
  }
}

/** Every process's command line, its arguments joined by spaces, from /proc (world-readable). */
async function commandLines(): Promise<string[]> {
  const lines: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline) lines.push(cmdline.replaceAll('\0', ' '));
  }
  return lines;
}

/** Reads every process's command line, over and over, until `running` settles; resolves with all it saw. */
async function commandLinesWhile(running: Promise<unknown>): Promise<Set<string>> {
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
async function startCuttingServer(
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

describe('enrollment through enroll.sh', () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;
  let extractDir: string | undefined;

  beforeEach(async () => {
    server = await startServerSandbox();
    client = await createBorgClient('script1');
    extractDir = await mkdtemp(join(tmpdir(), 'borg-extract-'));
  });

  afterEach(async (context) => {
    await client?.remove();
    if (extractDir) await rm(extractDir, { recursive: true, force: true });
    await stopServerSandbox(server, context);
  });

  it('enrolls, waits for approval and prints settings that borg can back up with', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const minted = await api.mintEnrollmentToken({ host: 'script1' });
    expect(minted.command).toBe(
      `enroll=$(curl -fsS ${sandbox.baseUrl}/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${minted.token}' sh -s --`,
    );

    const script = runEnrollCommand(minted.command, borg.homeDir);
    const shownFingerprint = await waitForFingerprint(script);
    const pending = await api.request<{ enrollments: { id: string; hostname: string; fingerprint: string }[] }>(
      'GET',
      '/v1/admin/enrollments?status=pending',
      { bearer: api.adminToken },
    );
    expect(pending.body.enrollments).toEqual([expect.objectContaining({ hostname: 'script1', fingerprint: shownFingerprint })]);
    const enrollmentId = pending.body.enrollments[0]?.id as string;
    expect((await api.approve(enrollmentId, shownFingerprint)).status).toBe(200);

    const finished = await script.subprocess;
    expect(finished, script.stderr()).toMatchObject({ exitCode: 0 });
    const settings = Object.fromEntries(
      [...String(finished.stdout).matchAll(/^export (BORG_REPO|BORG_RSH)='([^']*)'$/gm)].map((match) => [match[1], match[2]]),
    );
    expect(settings.BORG_REPO).toBe(`ssh://script1@127.0.0.1:${sandbox.sshPort}/./repo`);
    expect(settings.BORG_RSH).toContain(`${borg.homeDir}/.ssh/borg_ed25519`);
    const knownHosts = await readFile(join(borg.homeDir, '.ssh', 'known_hosts'), 'utf8');
    const serverInfo = await api.request<{ knownHosts: string[] }>('GET', '/v1/server');
    expect(knownHosts.trim().split('\n').sort()).toEqual([...serverInfo.body.knownHosts].sort());

    const env = { BORG_REPO: settings.BORG_REPO as string, BORG_RSH: settings.BORG_RSH as string };
    expect(await borg.run(['init', '--encryption', 'none'], { env })).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', '::first', borg.dataDir], { env })).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['list', '--short'], { env })).toMatchObject({ exitCode: 0, stdout: 'first\n' });
    expect(await borg.run(['extract', '::first'], { env, cwd: extractDir })).toMatchObject({ exitCode: 0 });
    expect(await readFile(join(extractDir as string, borg.dataDir, 'hello.txt'), 'utf8')).toBe('hello from script1\n');
  });

  it('stops with an error when the admin denies the enrollment', async () => {
    const { api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const minted = await api.mintEnrollmentToken({ host: 'script1' });
    const script = runEnrollCommand(minted.command, borg.homeDir);
    await waitForFingerprint(script);
    const pending = await api.request<{ enrollments: { id: string }[] }>('GET', '/v1/admin/enrollments?status=pending', {
      bearer: api.adminToken,
    });
    const enrollmentId = pending.body.enrollments[0]?.id as string;
    const denial = await api.request('POST', `/v1/admin/enrollments/${enrollmentId}/deny`, { body: {}, bearer: api.adminToken });
    expect(denial.status).toBe(200);

    const finished = await script.subprocess;
    expect(finished.exitCode).toBe(1);
    expect(finished.stdout).not.toContain('BORG_REPO');
  });

  it("keeps the token out of every process's command line on the VM", async () => {
    const { api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const minted = await api.mintEnrollmentToken({ host: 'script1' });
    // The control: a process with the token among its arguments is seen by this reader.
    const exposed = execa('sh', ['-c', 'sleep 1', 'sh', minted.token]);
    expect([...(await commandLinesWhile(exposed))].some((line) => line.includes(minted.token))).toBe(true);

    const script = runEnrollCommand(minted.command, borg.homeDir, { isTyped: true });
    const seen = commandLinesWhile(script.subprocess);
    const shownFingerprint = await waitForFingerprint(script);
    const pending = await api.request<{ enrollments: { id: string }[] }>('GET', '/v1/admin/enrollments?status=pending', {
      bearer: api.adminToken,
    });
    expect((await api.approve(pending.body.enrollments[0]?.id as string, shownFingerprint)).status).toBe(200);
    expect(await script.subprocess, script.stderr()).toMatchObject({ exitCode: 0 });

    const lines = [...(await seen)];
    expect(lines.some((line) => line.startsWith('sh -s --'))).toBe(true);
    expect(lines.filter((line) => line.includes(minted.token))).toEqual([]);
  });

  it("exits with curl's status and runs nothing when the server cannot be reached", async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const minted = await api.mintEnrollmentToken({ host: 'script1' });
    const [closedPort] = await pickFreePorts(1);
    const finished = await runEnrollCommand(minted.command.replaceAll(sandbox.baseUrl, `http://127.0.0.1:${closedPort}`), borg.homeDir)
      .subprocess;
    expect(finished.exitCode).toBe(7);
    expect(finished.stdout).toBe('');
    expect(await readdir(borg.homeDir)).not.toContain('.ssh');
  });

  it('runs not one line of a script cut off on its way, and exits non-zero', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const genuine = await (await fetch(`${sandbox.baseUrl}/enroll.sh`)).text();
    expect(genuine).toContain(`SERVER_URL='${sandbox.baseUrl}'`);
    const cutting = await startCuttingServer((url) => genuine.replaceAll(sandbox.baseUrl, url));
    try {
      const minted = await api.mintEnrollmentToken({ host: 'script1' });
      const command = minted.command.replaceAll(sandbox.baseUrl, cutting.url);

      // curl sees the connection end before the promised length: its status 18, and sh never starts.
      const dropped = await runEnrollCommand(command, borg.homeDir).subprocess;
      expect(dropped.exitCode).toBe(18);

      cutting.mode.value = 'short';
      const short = runEnrollCommand(command, borg.homeDir);
      const finished = await short.subprocess;
      expect(finished.exitCode, short.stderr()).not.toBe(0);
      expect(finished.stdout).toBe('');
      expect(cutting.requests).toEqual(['GET /enroll.sh', 'GET /enroll.sh']);
      expect(await readdir(borg.homeDir)).not.toContain('.ssh');
    } finally {
      cutting.server.close();
    }
  });

  it('leaves the mode of a directory it did not make alone (--key in a shared directory)', async () => {
    const { api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const shared = join(extractDir as string, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const made = join(extractDir as string, 'made', 'here');
    const minted = await api.mintEnrollmentToken({ host: 'script1' });

    // Each run stops once denied, so no script outlives the test.
    const denyPending = async () => {
      const pending = await api.request<{ enrollments: { id: string }[] }>('GET', '/v1/admin/enrollments?status=pending', {
        bearer: api.adminToken,
      });
      for (const { id } of pending.body.enrollments) {
        await api.request('POST', `/v1/admin/enrollments/${id}/deny`, { body: {}, bearer: api.adminToken });
      }
    };

    const inShared = runEnrollCommand(`${minted.command} --key ${shared}/borg_key`, borg.homeDir);
    await waitForFingerprint(inShared);
    await denyPending();
    expect((await inShared.subprocess).exitCode).toBe(1);
    expect((await stat(shared)).mode & 0o7777).toBe(0o1777);
    expect((await stat(`${shared}/borg_key`)).isFile()).toBe(true);

    const second = await api.mintEnrollmentToken({ host: 'script2' });
    const inNew = runEnrollCommand(`${second.command} --key ${made}/borg_key`, borg.homeDir);
    await waitForFingerprint(inNew);
    await denyPending();
    expect((await inNew.subprocess).exitCode).toBe(1);
    expect((await stat(made)).mode & 0o777).toBe(0o700);
  });
});
