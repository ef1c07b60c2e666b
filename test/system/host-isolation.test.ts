import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollAndApprove, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';

/** Two enrolled hosts: each reaches its own repository and nothing of the other's. */

describe('isolation between hosts', () => {
  let server: ServerSandbox | undefined;
  let first: BorgClient | undefined;
  let second: BorgClient | undefined;
  let firstRepoUrl = '';
  let secondRepoUrl = '';

  beforeEach(async () => {
    server = await startServerSandbox();
    first = await createBorgClient('web1');
    second = await createBorgClient('web2');
    firstRepoUrl = (await enrollAndApprove(server.api, first, 'web1')).repoUrl;
    secondRepoUrl = (await enrollAndApprove(server.api, second, 'web2')).repoUrl;
    expect(await first.run(['init', '--encryption', 'none', firstRepoUrl])).toMatchObject({ exitCode: 0 });
    expect(await first.run(['create', `${firstRepoUrl}::first`, first.dataDir])).toMatchObject({ exitCode: 0 });
  });

  afterEach(async (context) => {
    await first?.remove();
    await second?.remove();
    await stopServerSandbox(server, context);
  });

  it("refuses the second host's borg on the first host's repository path", async () => {
    const { sandbox } = server as ServerSandbox;
    const borg = second as BorgClient;
    const filesBefore = await sandbox.listFiles('/srv/backups/web1/repo');
    for (const path of ['/srv/backups/web1/repo', '/./../web1/repo', '/srv/backups/web2/../web1/repo']) {
      const attempt = await borg.run(['list', `ssh://web2@127.0.0.1:${sandbox.sshPort}${path}`]);
      expect(attempt.exitCode, path).not.toBe(0);
      expect(attempt.stdout, path).not.toContain('first');
    }
    const write = await borg.run(['create', `ssh://web2@127.0.0.1:${sandbox.sshPort}/srv/backups/web1/repo::intruder`, borg.dataDir]);
    expect(write.exitCode).not.toBe(0);
    expect(await sandbox.listFiles('/srv/backups/web1/repo')).toEqual(filesBefore);
  });

  it("refuses the second host's key for the first host's account", async () => {
    const { sandbox } = server as ServerSandbox;
    const borg = second as BorgClient;
    expect((await borg.run(['list', firstRepoUrl])).exitCode).not.toBe(0);
    const ssh = await borg.ssh({ user: 'web1', port: sandbox.sshPort });
    expect(ssh.exitCode).toBe(255);
    expect(ssh.stderr).toContain('Permission denied (publickey)');
  });

  it("keeps the first host's directory closed to the second host's account on the file system", async () => {
    const { sandbox } = server as ServerSandbox;
    const asSecond = ['setpriv', '--reuid=web2', '--regid=web2', '--init-groups', '--'];
    expect((await sandbox.exec([...asSecond, 'ls', '/srv/backups/web1'], { reject: false })).exitCode).not.toBe(0);
    expect((await sandbox.exec([...asSecond, 'ls', '/srv/backups/web1/repo'], { reject: false })).exitCode).not.toBe(0);
  });

  it('lets the second host use its own repository', async () => {
    const borg = second as BorgClient;
    expect(await borg.run(['init', '--encryption', 'none', secondRepoUrl])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${secondRepoUrl}::second`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const listing = await borg.run(['list', '--short', secondRepoUrl]);
    expect(listing.stdout.trim().split('\n')).toEqual(['second']);
  });
});
