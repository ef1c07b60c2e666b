import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';

/**
 * The whole flow as a VM sees it: the admin hands over the curl line the API
 * made, the VM runs it (`curl -fsS URL/enroll.sh | sh -s -- --token T`) with a
 * fresh HOME, the admin approves the fingerprint the script shows, and the VM
 * backs up with the BORG_REPO and BORG_RSH lines the script prints.
 */

const FINGERPRINT_PATTERN = /SHA256:[A-Za-z0-9+/]{43}/;

interface RunningScript {
  subprocess: ReturnType<typeof startShell>;
  stderr: () => string;
}

// The command is the one line an admin pastes into the VM's shell.
function startShell(command: string, homeDir: string) {
  return execa('sh', ['-c', command], {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: homeDir },
    extendEnv: false,
    cwd: homeDir,
    stdin: 'ignore',
    reject: false,
    timeout: 120_000,
  });
}

function runEnrollCommand(command: string, homeDir: string): RunningScript {
  let stderr = '';
  const subprocess = startShell(command, homeDir);
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
    expect(minted.command).toBe(`curl -fsS ${sandbox.baseUrl}/enroll.sh | sh -s -- --token ${minted.token}`);

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
});
