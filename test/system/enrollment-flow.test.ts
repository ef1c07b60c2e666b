import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollAndApprove, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';

/** A VM enrolls over HTTP, the admin approves its fingerprint, the VM backs up with borg over ssh. */

describe('enrollment, approval and backup through the real server', () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;
  let extractDir: string | undefined;

  beforeEach(async () => {
    server = await startServerSandbox();
    client = await createBorgClient('web1');
    extractDir = await mkdtemp(join(tmpdir(), 'borg-extract-'));
  });

  afterEach(async (context) => {
    await client?.remove();
    if (extractDir) await rm(extractDir, { recursive: true, force: true });
    await stopServerSandbox(server, context);
  });

  it('refuses the key of an enrollment that is still pending', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const { token } = await api.mintEnrollmentToken();
    const enrollment = await api.enroll(token, 'web1', borg.publicKey);
    expect(enrollment).toMatchObject({ status: 'pending', fingerprint: borg.fingerprint });
    expect((await api.enrollment(enrollment.id)).body).not.toHaveProperty('repoUrl');

    await borg.trustServer(sandbox.baseUrl);
    const repoUrl = `ssh://web1@127.0.0.1:${sandbox.sshPort}/./repo`;
    expect((await borg.run(['init', '--encryption', 'none', repoUrl])).exitCode).not.toBe(0);
    const ssh = await borg.ssh({ user: 'web1', port: sandbox.sshPort });
    expect(ssh.exitCode).toBe(255);
    expect(ssh.stderr).toContain('Permission denied (publickey)');
  });

  it('refuses an approval that names another fingerprint, and the key stays refused', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const other = await createBorgClient('other');
    try {
      const { token } = await api.mintEnrollmentToken();
      const enrollment = await api.enroll(token, 'web1', borg.publicKey);
      expect((await api.approve(enrollment.id, other.fingerprint)).status).toBe(409);
      await borg.trustServer(sandbox.baseUrl);
      const ssh = await borg.ssh({ user: 'web1', port: sandbox.sshPort });
      expect(ssh.exitCode).toBe(255);
    } finally {
      await other.remove();
    }
  });

  it("names the CLI's --replace-key when an approval finds the host name taken", async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const other = await createBorgClient('other');
    try {
      await enrollAndApprove(api, borg, 'web1');
      const { token } = await api.mintEnrollmentToken();
      const enrollment = await api.enroll(token, 'web1', other.publicKey);
      // `--` before the id: an enrollment id may begin with "-".
      const approve = (...options: string[]) =>
        sandbox.borgctl(['enrollments', 'approve', '--fingerprint', other.fingerprint, ...options, '--', enrollment.id], { reject: false });
      const refused = await approve();
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toContain(
        `host "web1" already exists with key ${borg.fingerprint}; approve with --replace-key to give it this key`,
      );
      expect(refused.stderr).not.toContain('replaceKey');
      expect((await approve('--replace-key')).exitCode).toBe(0);
    } finally {
      await other.remove();
    }
  });

  it('lets an approved host init, create, list and extract through the repoUrl the API returned', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const { repoUrl, knownHosts } = await enrollAndApprove(api, borg, 'web1');
    expect(repoUrl).toBe(`ssh://web1@127.0.0.1:${sandbox.sshPort}/./repo`);
    const serverInfo = await api.request<{ knownHosts: string[] }>('GET', '/v1/server');
    expect(knownHosts).toEqual(serverInfo.body.knownHosts);

    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repoUrl}::first`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const listing = await borg.run(['list', '--short', repoUrl]);
    expect(listing).toMatchObject({ exitCode: 0 });
    expect(listing.stdout.trim().split('\n')).toEqual(['first']);
    expect(await borg.run(['extract', `${repoUrl}::first`], { cwd: extractDir })).toMatchObject({ exitCode: 0 });
    const extracted = join(extractDir as string, borg.dataDir);
    expect(await readFile(join(extracted, 'hello.txt'), 'utf8')).toBe('hello from web1\n');
    expect(await readFile(join(extracted, 'nested', 'data.bin'))).toEqual(await readFile(join(borg.dataDir, 'nested', 'data.bin')));

    // The repository is where DESIGN.md says, with the modes it says.
    expect((await sandbox.exec(['stat', '-c', '%U:%G %a', '/srv/backups/web1', '/srv/backups/web1/repo'])).stdout).toBe(
      'root:web1 710\nweb1:web1 700\n',
    );
  });

  it('gives the approved key borg serve only, without a shell or forwarding', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    await enrollAndApprove(api, borg, 'web1');
    const command = await borg.ssh({ user: 'web1', port: sandbox.sshPort }, ['id']);
    expect(command.stdout).not.toContain('uid=');
    const forwarding = await borg.ssh({ user: 'web1', port: sandbox.sshPort }, [], {
      sshOptions: ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9'],
      timeoutMs: 20_000,
    });
    expect(forwarding).toMatchObject({ exitCode: 255, timedOut: false });
  });
});
