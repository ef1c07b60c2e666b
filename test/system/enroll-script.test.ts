import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ciphersFor, hasAesInstructions } from '../../src/root/sshd/ssh-algorithms.js';
import { runEnrollCommand, waitForFingerprint } from '../support/enroll-command.js';
import { pickFreePorts } from '../support/sandbox.js';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { SYSTEM_PATH } from '../support/system-path.js';

/**
 * The whole flow as a VM sees it: the admin hands over the one line the API
 * made, the VM runs it (`enroll=$(curl -fsS URL/enroll.sh) && printf … | BORG_ENROLL_TOKEN=T sh -s --`)
 * with a fresh HOME, the admin approves the fingerprint the script shows, and
 * the VM backs up with the BORG_REPO and BORG_RSH lines the script prints. The
 * line's exit status tells a provisioning tool whether the VM was enrolled.
 */

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

    // The client's cipher order decides (RFC 4253 §7.1): the script puts AES-GCM first where
    // this CPU has AES instructions, chacha20-poly1305 where not, and the session really uses it.
    const aes = hasAesInstructions(await readFile('/proc/cpuinfo', 'utf8'));
    const expectedCipher = aes ? 'aes128-gcm@openssh.com' : 'chacha20-poly1305@openssh.com';
    const offered = ciphersFor(aes);
    const listed = /-o Ciphers=(\S+)/.exec(settings.BORG_RSH as string)?.[1]?.split(',');
    expect(listed?.[0]).toBe(expectedCipher);
    expect(listed?.every((cipher) => offered.includes(cipher))).toBe(true);
    const session = await execa('sh', ['-c', `${settings.BORG_RSH} -v -o BatchMode=yes -p ${sandbox.sshPort} script1@127.0.0.1`], {
      env: { PATH: SYSTEM_PATH, HOME: borg.homeDir },
      extendEnv: false,
      input: '',
      reject: false,
      timeout: 60_000,
    });
    expect(String(session.stderr)).toContain(`kex: client->server cipher: ${expectedCipher}`);
    expect(String(session.stderr)).toContain(`kex: server->client cipher: ${expectedCipher}`);
  });

  it('says the enrollment was approved automatically when the token allows it, and asks for no fingerprint check', async () => {
    const { api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const minted = await api.mintEnrollmentToken({ host: 'script1', autoApprove: true });
    const finished = await runEnrollCommand(minted.command, borg.homeDir).subprocess;
    expect(finished, String(finished.stderr)).toMatchObject({ exitCode: 0 });
    const keygen = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(borg.homeDir, '.ssh', 'borg_ed25519.pub')], {
      env: { PATH: SYSTEM_PATH },
      extendEnv: false,
    });
    // A fingerprint holds '+' and '/': matched as text, not as a pattern (a '+' once made this test fail).
    const fingerprint = keygen.stdout.split(' ')[1];
    expect(String(finished.stderr)).toMatch(
      new RegExp(
        `Enrollment [A-Za-z0-9_-]{22} for host "script1" was approved automatically: the token allowed it \\(key ${escapeRegExp(fingerprint ?? '')}\\)\\.`,
      ),
    );
    expect(String(finished.stderr)).not.toMatch(/waiting for approval|give the admin/i);
    expect(String(finished.stdout)).toContain(`export BORG_REPO='ssh://script1@`);
  });

  it('names the host when it resumes waiting for an enrollment', async () => {
    const { api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const minted = await api.mintEnrollmentToken({ host: 'script1' });
    const enrollment = await api.enroll(minted.token, 'script1', borg.publicKey);
    const resume = `${minted.command.replace(`BORG_ENROLL_TOKEN='${minted.token}' `, '')} --resume ${enrollment.id} --key ${join(borg.dir, 'id_ed25519')}`;
    expect(resume).not.toContain(minted.token);
    const script = runEnrollCommand(resume, borg.homeDir);
    expect(await waitForFingerprint(script)).toBe(borg.fingerprint);
    expect(script.stderr()).toContain(`Enrollment ${enrollment.id} for host "script1" is waiting for approval.`);
    expect((await api.approve(enrollment.id, borg.fingerprint)).status).toBe(200);
    const finished = await script.subprocess;
    expect(finished, script.stderr()).toMatchObject({ exitCode: 0 });
    expect(script.stderr()).toContain('Approved: host "script1".');
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

/** The text as a regular expression that matches only itself. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
