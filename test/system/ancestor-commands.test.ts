import { readFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { createBorgClient } from '../support/sandbox-client.js';
import { useServerAndClient } from '../support/sandbox-hooks.js';

/**
 * The ancestor's admin commands, `createuser NAME "KEY"` and `deluser NAME`,
 * against the running server: the host can back up after createuser, cannot
 * after deluser, and its data stays.
 */

describe('borgctl createuser and deluser', () => {
  const setup = useServerAndClient('legacy1');

  beforeEach(async () => {
    await setup.client.trustServer(setup.server.sandbox.baseUrl);
  });

  const repoUrlOf = (name: string) => `ssh://${name}@127.0.0.1:${setup.server.sandbox.sshPort}/./repo`;

  it('creates a host that can back up at once', async () => {
    const { sandbox } = setup.server;
    const borg = setup.client;
    const created = await sandbox.borgctl(['createuser', 'legacy1', borg.publicKey]);
    expect(created.stdout).toBe('User legacy1 created, backup path is /srv/backups/legacy1/repo\n');
    expect(created.stderr).toContain(repoUrlOf('legacy1'));

    expect(await borg.run(['init', '--encryption', 'none', repoUrlOf('legacy1')])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repoUrlOf('legacy1')}::first`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    expect((await borg.run(['list', '--short', repoUrlOf('legacy1')])).stdout).toBe('first\n');
    const hosts = JSON.parse((await sandbox.borgctl(['hosts', 'list', '--json'])).stdout) as { name: string; appendOnly: boolean }[];
    expect(hosts).toEqual([expect.objectContaining({ name: 'legacy1', appendOnly: true })]);
  });

  it('takes the access away with deluser and keeps the data', async () => {
    const { sandbox } = setup.server;
    const borg = setup.client;
    await sandbox.borgctl(['createuser', 'legacy1', borg.publicKey]);
    await borg.run(['init', '--encryption', 'none', repoUrlOf('legacy1')]);
    expect(await borg.run(['create', `${repoUrlOf('legacy1')}::first`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const filesBefore = await sandbox.listFiles('/srv/backups/legacy1/repo');

    const deleted = await sandbox.borgctl(['deluser', 'legacy1']);
    expect(deleted.stdout).toBe('User legacy1 deleted; data kept in /srv/backups/legacy1\n');

    expect((await borg.run(['list', repoUrlOf('legacy1')])).exitCode).not.toBe(0);
    const ssh = await borg.ssh({ user: 'legacy1', port: sandbox.sshPort });
    expect(ssh.exitCode).toBe(255);
    expect(await sandbox.listFiles('/srv/backups/legacy1/repo')).toEqual(filesBefore);
    expect((await sandbox.exec(['getent', 'passwd', 'legacy1'], { reject: false })).exitCode).toBe(2);
  });

  it('gives an existing host a new key with createuser, refusing the old one', async () => {
    const { sandbox } = setup.server;
    const borg = setup.client;
    const replacement = await createBorgClient('legacy1-new');
    try {
      await replacement.trustServer(sandbox.baseUrl);
      await sandbox.borgctl(['createuser', 'legacy1', borg.publicKey]);
      await borg.run(['init', '--encryption', 'none', repoUrlOf('legacy1')]);
      expect(await borg.run(['create', `${repoUrlOf('legacy1')}::before-rekey`, borg.dataDir])).toMatchObject({ exitCode: 0 });

      const rekeyed = await sandbox.borgctl(['createuser', 'legacy1', replacement.publicKey]);
      expect(rekeyed.stdout).toBe(
        `User legacy1 re-keyed: its key is now ${replacement.fingerprint} (was ${borg.fingerprint}), backup path is /srv/backups/legacy1/repo\n`,
      );
      expect((await borg.ssh({ user: 'legacy1', port: sandbox.sshPort })).exitCode).toBe(255);
      const listing = await replacement.run(['list', '--short', repoUrlOf('legacy1')]);
      expect(listing).toMatchObject({ exitCode: 0, stdout: 'before-rekey\n' });
    } finally {
      await replacement.remove();
    }
  });

  it('leaves the accounts in the sandbox, not on this machine', async () => {
    const { sandbox } = setup.server;
    await sandbox.borgctl(['createuser', 'legacy1', setup.client.publicKey]);
    expect((await sandbox.exec(['getent', 'passwd', 'legacy1'])).stdout).toContain('legacy1:');
    const hostPasswd = await readFile('/etc/passwd', 'utf8');
    expect(hostPasswd.split('\n').filter((line) => line.startsWith('legacy1:') || line.startsWith('borg-api:'))).toEqual([]);
  });
});
