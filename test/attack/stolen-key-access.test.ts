import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { hostUid, useAttackServer } from '../support/attack-server.js';
import { openBorgServeSession, openSsh, processesOfUid } from '../support/attack-ssh.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { SYSTEM_PATH } from '../support/system-path.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A stolen key, or a guess, against the accounts: root, passwords, a host that
 * was disabled, deleted or re-keyed while the thief had a session open, and a
 * host bound to a source address.
 */

describe('a stolen key against the accounts', () => {
  const server = useAttackServer();
  const group = 'stolen key: accounts';
  const clients: BorgClient[] = [];

  afterAll(async () => {
    for (const client of clients) await client.remove();
  });

  async function enrolledClient(name: string, tokenOptions: Parameters<typeof enrollAndApprove>[3] = {}) {
    const client = await createBorgClient(name);
    clients.push(client);
    const { repoUrl } = await enrollAndApprove(server().api, client, name, tokenOptions);
    return { client, repoUrl, uid: await hostUid(server(), name) };
  }

  const destination = (user: string) => ({ user, port: server().sandbox.sshPort });

  /** ssh with a password from SSH_ASKPASS; the askpass script leaves a mark when ssh asks it. */
  async function passwordLogin(client: BorgClient, user: string, password: string) {
    const askpass = join(client.dir, `askpass-${user}`);
    const asked = `${askpass}.asked`;
    await writeFile(askpass, `#!/bin/sh\ntouch '${asked}'\necho '${password}'\n`);
    await chmod(askpass, 0o755);
    const result = await execa(
      'ssh',
      [
        // The client's known_hosts, no key, and no BatchMode (it would forbid asking for a password).
        ...['-F', '/dev/null', '-o', `UserKnownHostsFile=${client.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes'],
        '-o',
        'PubkeyAuthentication=no',
        '-o',
        'PreferredAuthentications=password,keyboard-interactive',
        '-o',
        'NumberOfPasswordPrompts=1',
        '-p',
        String(server().sandbox.sshPort),
        `${user}@127.0.0.1`,
        'id',
      ],
      {
        env: { PATH: SYSTEM_PATH, HOME: client.homeDir, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 30_000,
      },
    );
    return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr), wasAsked: existsSync(asked) };
  }

  attack(group, 'log in as root with the stolen key (planted in root’s key file) or with root’s password', async () => {
    const { client } = await enrolledClient('web1');
    const { sandbox } = server();
    const rootKeyFile = '/srv/state/ssh/authorized_keys/root';
    await sandbox.writeFile(rootKeyFile, `${client.publicKey}\n`, { mode: '0644' });
    await sandbox.exec(['chpasswd'], { input: 'root:root-password-attack\n' });
    const withKey = await client.ssh(destination('root'), ['id']);
    const stillPlanted = (await sandbox.exec(['test', '-f', rootKeyFile], { reject: false })).exitCode === 0;
    const withPassword = await passwordLogin(client, 'root', 'root-password-attack');
    await sandbox.exec(['rm', '-f', rootKeyFile]);
    expect(stillPlanted).toBe(true);
    expect(withKey.exitCode).toBe(255);
    expect(withKey.stdout).not.toMatch(/uid=0/);
    expect(withPassword.exitCode).toBe(255);
    expect(withPassword.wasAsked).toBe(false);
    expect(withPassword.stderr).toContain('Permission denied (publickey)');
    return `key: "${withKey.stderr.trim().split('\n').pop()}"; password: never asked, "${withPassword.stderr.trim().split('\n').pop()}"`;
  });

  attack(group, 'log in to a host account with a password (the account given a real one)', async () => {
    const { client } = await enrolledClient('web2');
    const { sandbox } = server();
    await sandbox.exec(['chpasswd'], { input: 'web2:host-password-attack\n' });
    const shadow = (await sandbox.exec(['getent', 'shadow', 'web2'])).stdout;
    const result = await passwordLogin(client, 'web2', 'host-password-attack');
    expect(shadow.split(':')[1]).toMatch(/^\$/);
    expect(result.exitCode).toBe(255);
    expect(result.wasAsked).toBe(false);
    expect(result.stdout).not.toMatch(/uid=/);
    expect(result.stderr).toContain('Permission denied (publickey)');
    return 'the account had a password hash; sshd offered publickey only and never asked for it';
  });

  for (const [label, name, revoke] of [
    [
      'disabled',
      'gone1',
      async () => server().api.request('PATCH', '/v1/admin/hosts/gone1', { body: { disabled: true }, bearer: server().api.adminToken }),
    ],
    ['deleted', 'gone2', async () => server().api.request('DELETE', '/v1/admin/hosts/gone2', { bearer: server().api.adminToken })],
  ] as const) {
    attack(group, `keep using the key after the host is ${label}, with a session open`, async () => {
      const { client, uid } = await enrolledClient(name);
      const { session, serve } = await openBorgServeSession(uid, () => openSsh(client, destination(name)));
      const response = await revoke();
      expect(response.status).toBe(200);
      await waitFor('the open session to end', async () => (session.hasExited() ? true : undefined));
      expect((await processesOfUid(uid)).map((info) => info.pid)).not.toContain(serve.pid);
      const again = await client.ssh(destination(name), []);
      expect(again.exitCode).toBe(255);
      expect(again.stderr).toContain('Permission denied');
      return `open session (borg serve pid ${serve.pid}) ended; new login: "${again.stderr.trim().split('\n').pop()}"`;
    });
  }

  attack(group, 'keep using the old key after the host is re-keyed, with a session open', async () => {
    const { client: old, uid } = await enrolledClient('rekey1');
    const replacement = await createBorgClient('rekey1-new');
    clients.push(replacement);
    const { session, serve } = await openBorgServeSession(uid, () => openSsh(old, destination('rekey1')));
    const { api } = server();
    const { token } = await api.mintEnrollmentToken();
    const enrollment = await api.enroll(token, 'rekey1', replacement.publicKey);
    const approval = await api.request('POST', `/v1/admin/enrollments/${enrollment.id}/approve`, {
      body: { fingerprint: replacement.fingerprint, replaceKey: true },
      bearer: api.adminToken,
    });
    expect(approval.status).toBe(200);
    await waitFor('the open session to end', async () => (session.hasExited() ? true : undefined));
    expect((await processesOfUid(uid)).map((info) => info.pid)).not.toContain(serve.pid);
    const again = await old.ssh(destination('rekey1'), []);
    expect(again.exitCode).toBe(255);
    await replacement.trustServer(server().sandbox.baseUrl);
    const fresh = await replacement.ssh(destination('rekey1'), []);
    expect(fresh.stderr).not.toContain('Permission denied');
    return 'old session ended; old key: Permission denied; the new key logs in';
  });

  attack(group, 'connect from outside allowFrom (ssh -b 127.0.0.2 against allowFrom 127.0.0.1/32)', async () => {
    const { client, repoUrl } = await enrolledClient('pinned1', { allowFrom: '127.0.0.1/32' });
    const outside = await client.ssh(destination('pinned1'), [], { sshOptions: ['-b', '127.0.0.2'] });
    const outsideBorg = await client.run(['init', '--encryption', 'none', repoUrl], {
      env: { BORG_RSH: `${client.rsh} -b 127.0.0.2` },
    });
    const inside = await client.run(['init', '--encryption', 'none', repoUrl]);
    expect(outside.exitCode).toBe(255);
    expect(outside.stderr).toContain('Permission denied');
    expect(outsideBorg.exitCode).not.toBe(0);
    expect(inside.exitCode).toBe(0);
    return `from 127.0.0.2: "${outside.stderr.trim().split('\n').pop()}"; from 127.0.0.1 borg init worked`;
  });
});
