import { existsSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { createWorldWritableDir, hostUid, treeDigest, useAttackServer } from '../support/attack-server.js';
import {
  clientSshOptions,
  commandSwappingRsh,
  createServerTunnelDevice,
  environmentOf,
  openBorgServeSession,
  openSsh,
  type SshSession,
  sendThrough,
  socksConnect,
  type TrafficSink,
  tcpSink,
  tryTunnelTraffic,
  unixSink,
} from '../support/attack-ssh.js';
import { type CommandResult, canConnect, pickFreePorts } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient, type SshDestination } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A VM whose approved key was stolen: everything it tries with that key that
 * is not `borg serve` on its own repository. One server, one host (web1) with
 * a repository and an archive; the attacks do not change what the others see.
 */

const ID_OUTPUT = /uid=\d+\(/;
const PASSWD_LINE = /root:x:0:0:/;

function lastLine(result: CommandResult): string {
  const lines = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 160);
}

describe('a stolen key', () => {
  const server = useAttackServer();
  let client: BorgClient | undefined;
  let repoUrl = '';
  let uid = 0;
  let scratch: { path: string; remove(): Promise<void> } | undefined;
  const sessions: SshSession[] = [];
  const sinks: TrafficSink[] = [];

  const web1 = (): SshDestination => ({ user: 'web1', port: server().sandbox.sshPort });
  const borg = () => client as BorgClient;
  const sshRepositoryUrl = (path: string) => `ssh://web1@127.0.0.1:${server().sandbox.sshPort}${path}`;

  beforeAll(async () => {
    client = await createBorgClient('web1');
    repoUrl = (await enrollAndApprove(server().api, client, 'web1')).repoUrl;
    uid = await hostUid(server(), 'web1');
    expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await client.run(['create', `${repoUrl}::first`, client.dataDir])).toMatchObject({ exitCode: 0 });
    scratch = await createWorldWritableDir('session');
  });

  afterAll(async () => {
    for (const session of sessions) await session.close();
    for (const sink of sinks) await sink.close();
    await scratch?.remove();
    await client?.remove();
  });

  function session(options: Parameters<typeof openSsh>[2]): SshSession {
    const opened = openSsh(borg(), web1(), options);
    sessions.push(opened);
    return opened;
  }

  /** A session whose borg serve runs on the server, to look at what it got. */
  async function serveSession(options: Parameters<typeof openSsh>[2]) {
    return openBorgServeSession(uid, () => session(options));
  }

  async function sink(host?: string): Promise<TrafficSink> {
    const opened = await tcpSink(host);
    sinks.push(opened);
    return opened;
  }

  describe('shell and commands', () => {
    const group = 'stolen key: shell';

    attack(group, 'run `id` as the ssh command', async () => {
      const result = await borg().ssh(web1(), ['id']);
      expect(`${result.stdout}${result.stderr}`).not.toMatch(ID_OUTPUT);
      return `no uid= in the output; borg serve answered instead: "${lastLine(result)}"`;
    });

    attack(group, 'ask for a login shell (no command) and type `id`', async () => {
      const result = await borg().ssh(web1(), [], { input: 'id\ncat /etc/passwd\nexit\n' });
      expect(`${result.stdout}${result.stderr}`).not.toMatch(ID_OUTPUT);
      expect(result.stdout).not.toMatch(PASSWD_LINE);
      return `typed commands reached borg serve's RPC reader, not a shell: "${lastLine(result)}"`;
    });

    attack(group, 'ask for a shell with a PTY (ssh -tt) and type `id`', async () => {
      const result = await borg().ssh(web1(), [], { input: 'id\nexit\n', sshOptions: ['-tt'] });
      expect(`${result.stdout}${result.stderr}`).not.toMatch(ID_OUTPUT);
      expect(result.stderr).toContain('PTY allocation request failed');
      return 'PTY allocation request failed; no uid= in the output';
    });

    attack(group, 'run `id` with a PTY (ssh -tt … id)', async () => {
      const result = await borg().ssh(web1(), ['id'], { sshOptions: ['-tt'] });
      expect(`${result.stdout}${result.stderr}`).not.toMatch(ID_OUTPUT);
      expect(result.stderr).toContain('PTY allocation request failed');
      return 'PTY allocation request failed; no uid= in the output';
    });

    attack(group, 'read a file: `cat /etc/passwd`', async () => {
      const result = await borg().ssh(web1(), ['cat', '/etc/passwd']);
      expect(result.stdout).not.toMatch(PASSWD_LINE);
      return `no passwd line in the output: "${lastLine(result)}"`;
    });

    attack(group, 'run a shell command: `sh -c "id; cat /etc/passwd"`', async () => {
      const result = await borg().ssh(web1(), ['sh', '-c', "'id; cat /etc/passwd'"]);
      expect(`${result.stdout}${result.stderr}`).not.toMatch(ID_OUTPUT);
      expect(result.stdout).not.toMatch(PASSWD_LINE);
      return `no uid= and no passwd line: "${lastLine(result)}"`;
    });

    attack(group, "escape like the ancestor's rbash: `bash`, `rbash -c bash`, `bash -i`, `python3 -c os.system`", async () => {
      const attempts = [['bash'], ['rbash', '-c', 'bash'], ['bash', '--norc', '-i'], ['python3', '-c', '"import os; os.system(\'id\')"']];
      for (const command of attempts) {
        const result = await borg().ssh(web1(), command, { input: 'id\n' });
        expect(`${result.stdout}${result.stderr}`, command.join(' ')).not.toMatch(ID_OUTPUT);
      }
      return `${attempts.length} escapes, each answered by borg serve; no uid= in any output`;
    });

    attack(group, 'append a command to the forced one: `borg serve; id` and `$(id)`', async () => {
      for (const command of [['borg', 'serve;', 'id'], ['borg', 'serve', '$(id)', '`id`'], ['borg serve && id']]) {
        const result = await borg().ssh(web1(), command);
        expect(`${result.stdout}${result.stderr}`, command.join(' ')).not.toMatch(ID_OUTPUT);
      }
      return 'the client command is never run by a shell: no uid= in any output';
    });
  });

  describe('widening the forced command through the command the client sends', () => {
    const group = 'stolen key: widen forced command';

    attack(group, '`borg serve --restrict-to-path /` and create a repository in /tmp', async () => {
      const swap = await commandSwappingRsh(borg());
      const target = `${scratch?.path}/widened-by-path`;
      const result = await borg().run(['init', '--encryption', 'none', sshRepositoryUrl(target)], {
        env: swap('borg serve --restrict-to-path /'),
      });
      expect(result.exitCode).not.toBe(0);
      expect(existsSync(target)).toBe(false);
      return `borg init failed (${result.exitCode}); ${target} does not exist: "${lastLine(result)}"`;
    });

    attack(group, '`borg serve --restrict-to-repository OTHER` and create OTHER', async () => {
      const swap = await commandSwappingRsh(borg());
      const target = `${scratch?.path}/other-repository`;
      const result = await borg().run(['init', '--encryption', 'none', sshRepositoryUrl(target)], {
        env: swap(`borg serve --restrict-to-repository ${target}`),
      });
      expect(result.exitCode).not.toBe(0);
      expect(existsSync(target)).toBe(false);
      return `borg init failed (${result.exitCode}); ${target} does not exist`;
    });

    attack(group, '`../` in the repository path and in the client command', async () => {
      const swap = await commandSwappingRsh(borg());
      const climbingPath = `/srv/backups/web1/repo/../../../..${scratch?.path}/dot-dot`;
      const plain = await borg().run(['init', '--encryption', 'none', sshRepositoryUrl(climbingPath)]);
      const widened = await borg().run(['init', '--encryption', 'none', sshRepositoryUrl(climbingPath)], {
        env: swap(`borg serve --restrict-to-repository ${climbingPath}`),
      });
      const relative = await borg().run(['init', '--encryption', 'none', sshRepositoryUrl('/./repo/../escaped')]);
      for (const result of [plain, widened, relative]) expect(result.exitCode).not.toBe(0);
      expect(existsSync(`${scratch?.path}/dot-dot`)).toBe(false);
      const escaped = await server().sandbox.exec(['ls', '-d', '/srv/backups/web1/escaped', '/srv/backups/escaped'], { reject: false });
      expect(escaped.stdout).toBe('');
      return `3 attempts failed; nothing created in ${scratch?.path} nor beside the repository`;
    });

    attack(group, 'drop --append-only from the command, then `borg delete` + `borg compact`', async () => {
      const { sandbox } = server();
      expect(await borg().run(['create', `${repoUrl}::victim`, borg().dataDir])).toMatchObject({ exitCode: 0 });
      const before = (await treeDigest(server(), '/srv/backups/web1/repo/data')).split('\n').filter(Boolean);
      const swap = await commandSwappingRsh(borg());
      const fullAccess = swap('borg serve --restrict-to-repository /srv/backups/web1/repo');
      const deleted = await borg().run(['delete', `${repoUrl}::victim`], { env: fullAccess });
      const compacted = await borg().run(['compact', repoUrl], { env: fullAccess });
      const after = (await treeDigest(server(), '/srv/backups/web1/repo/data')).split('\n').filter(Boolean);
      expect(before.length).toBeGreaterThan(0);
      expect(before.filter((line) => !after.includes(line))).toEqual([]);
      expect((await sandbox.exec(['cat', '/srv/backups/web1/repo/transactions'])).stdout).toMatch(/^transaction \d+/m);
      return `delete exit ${deleted.exitCode}, compact exit ${compacted.exitCode}; all ${before.length} segment files kept unchanged (append-only held)`;
    });
  });

  describe('forwarding', () => {
    const group = 'stolen key: forwarding';

    attack(group, 'local port forward (ssh -L) to a listener on the server side', async () => {
      const target = await sink();
      const [localPort = 0] = await pickFreePorts(1);
      const forward = session({ sshOptions: ['-N', '-L', `${localPort}:127.0.0.1:${target.port}`] });
      await waitFor('ssh -L to listen', async () => ((await canConnect(localPort)) ? true : undefined));
      const sent = await sendThrough(localPort, 'ATTACK-LOCAL-FORWARD\n');
      expect(target.connections()).toBe(0);
      expect(target.received()).toBe('');
      expect(sent.reply).not.toContain('SINK-GREETING');
      await forward.close();
      expect(forward.output()).toMatch(/administratively prohibited|open failed/);
      return `0 connections and 0 bytes reached the listener; ssh: "${forward.output().match(/.*open failed.*/)?.[0] ?? ''}"`;
    });

    attack(group, 'remote port forward (ssh -R) from a port on the server', async () => {
      const target = await sink();
      const [remotePort = 0] = await pickFreePorts(1);
      const forward = session({ sshOptions: ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `${remotePort}:127.0.0.1:${target.port}`] });
      // Either sshd refused (ssh exits, ExitOnForwardFailure) or the port opened: wait for one of them,
      // not for a time that a busy machine can spend before sshd answered.
      await waitFor(
        () => `ssh -R to exit or port ${remotePort} to open; ssh printed:\n${forward.output()}`,
        async () => (forward.hasExited() || (await canConnect(remotePort)) ? true : undefined),
      );
      const sent = await sendThrough(remotePort, 'ATTACK-REMOTE-FORWARD\n');
      expect(sent.connected).toBe(false);
      expect(target.connections()).toBe(0);
      expect(await forward.exited).toMatchObject({ exitCode: 255 });
      return `port ${remotePort} never opened on the server; 0 bytes passed; ssh: "${forward.output().trim().split('\n').pop()}"`;
    });

    attack(group, 'dynamic forward (ssh -D, SOCKS) to a listener on the server side', async () => {
      const target = await sink();
      const [socksPort = 0] = await pickFreePorts(1);
      const forward = session({ sshOptions: ['-N', '-D', `127.0.0.1:${socksPort}`] });
      await waitFor('ssh -D to listen', async () => ((await canConnect(socksPort)) ? true : undefined));
      const socks = await socksConnect(socksPort, target.port, 'ATTACK-DYNAMIC-FORWARD\n');
      expect(socks.reply).not.toContain('SINK-GREETING');
      expect(target.connections()).toBe(0);
      await forward.close();
      return `SOCKS reply ${socks.replyCode ?? 'none (closed)'}; 0 connections reached the listener`;
    });

    attack(group, 'forward to a Unix socket on the server (ssh -L port:/path, -R /path:…)', async () => {
      const socketPath = `${scratch?.path}/server-side.sock`;
      const target = await unixSink(socketPath);
      sinks.push(target);
      const tcpTarget = await sink();
      const [localPort = 0] = await pickFreePorts(1);
      const remoteSocket = `${scratch?.path}/remote-forward.sock`;
      const forward = session({
        sshOptions: ['-N', '-L', `${localPort}:${socketPath}`, '-R', `${remoteSocket}:127.0.0.1:${tcpTarget.port}`],
      });
      await waitFor('ssh -L to listen', async () => ((await canConnect(localPort)) ? true : undefined));
      await sendThrough(localPort, 'ATTACK-STREAMLOCAL\n');
      expect(target.connections()).toBe(0);
      expect(existsSync(remoteSocket)).toBe(false);
      expect(tcpTarget.connections()).toBe(0);
      await forward.close();
      return `0 connections reached ${socketPath}; no socket created at ${remoteSocket}`;
    });

    attack(group, 'agent forwarding (ssh -A) with a running agent', async () => {
      const agentSocket = `${borg().dir}/agent.sock`;
      const agent = execa('ssh-agent', ['-D', '-a', agentSocket], { reject: false, env: { PATH: process.env.PATH ?? '' } });
      try {
        await waitFor('the agent socket', () => (existsSync(agentSocket) ? true : undefined));
        await execa('ssh-add', [borg().keyPath], { env: { SSH_AUTH_SOCK: agentSocket, PATH: process.env.PATH ?? '' } });
        const { session: forwarded, serve } = await serveSession({ sshOptions: ['-A', '-v'], env: { SSH_AUTH_SOCK: agentSocket } });
        const environment = await environmentOf(serve.pid);
        await forwarded.waitForOutput('Requesting authentication agent forwarding');
        expect(environment).not.toHaveProperty('SSH_AUTH_SOCK');
        const ownedInTmp = await agentSocketsOwnedBy(uid, '/tmp');
        expect(ownedInTmp).toEqual([]);
        await forwarded.close();
        return `the session has no SSH_AUTH_SOCK and no agent socket of uid ${uid} exists: nothing to reach the agent through`;
      } finally {
        agent.kill('SIGTERM');
        await agent;
      }
    });

    attack(group, 'X11 forwarding (ssh -X / -Y)', async () => {
      const { session: forwarded, serve } = await serveSession({ sshOptions: ['-X', '-Y', '-v'], env: { DISPLAY: ':0' } });
      const environment = await environmentOf(serve.pid);
      await forwarded.waitForOutput('Requesting X11 forwarding');
      expect(environment).not.toHaveProperty('DISPLAY');
      const listening: number[] = [];
      for (let display = 10; display < 20; display += 1) if (await canConnect(6000 + display)) listening.push(6000 + display);
      expect(listening).toEqual([]);
      await forwarded.close();
      return 'no DISPLAY in the session and no X11 listener on ports 6010-6019';
    });

    attack(group, "tunnel device (ssh -w): IP traffic to a listener behind the server's tun device", async () => {
      // Everything but sshd is ready to carry the tunnel (a device web1 may attach to, a listener
      // on its address), so that this fails if PermitTunnel ever allows it.
      const device = await createServerTunnelDevice(server().sandbox, uid);
      try {
        const target = await sink(device.serverAddress);
        const traffic = await tryTunnelTraffic(borg(), web1(), { device, port: target.port, seconds: 4 });
        expect(traffic.connected, `a connection passed through the tunnel; the listener said "${traffic.reply.trim()}"`).toBe(false);
        expect(target.connections(), 'connections that reached the listener').toBe(0);
        expect(traffic.sshOutput).toContain('Server has rejected tunnel device forwarding');
        return (
          `server: "rejected tunnel device forwarding"; ${traffic.attempts} connections from ${device.clientAddress} (client tun0) ` +
          `to ${device.serverAddress}:${target.port} (server ${device.name}, owned by uid ${uid}) failed ("${traffic.error}"); ` +
          '0 reached the listener'
        );
      } finally {
        await device.remove();
      }
    });
  });

  describe('environment, sftp, scp and user rc', () => {
    const group = 'stolen key: env, sftp, scp, rc';

    attack(group, 'pass LD_PRELOAD and BORG_* to the forced command (SetEnv, SendEnv)', async () => {
      const { session: opened, serve } = await serveSession({
        sshOptions: ['-v', '-o', 'SetEnv=LD_PRELOAD=/nonexistent/attack.so BORG_ATTACK=1 PYTHONINSPECT=1', '-o', 'SendEnv=BORG_* PYTHON*'],
        env: { BORG_REPO: '/srv/state', BORG_BASE_DIR: '/tmp/attack', PYTHONVERBOSE: '1' },
      });
      const environment = await environmentOf(serve.pid);
      await opened.waitForOutput('setting env LD_PRELOAD');
      await opened.waitForOutput('setting env BORG_REPO');
      for (const name of ['LD_PRELOAD', 'BORG_ATTACK', 'BORG_REPO', 'BORG_BASE_DIR', 'PYTHONINSPECT', 'PYTHONVERBOSE']) {
        expect(environment, name).not.toHaveProperty(name);
      }
      await opened.close();
      expect(opened.output()).not.toContain('cannot be preloaded');
      return `borg serve's environment holds only ${Object.keys(environment).sort().join(', ')}`;
    });

    attack(group, 'plant ~/.ssh/rc and ~/.ssh/environment', async () => {
      const { sandbox } = server();
      const asHost = ['setpriv', '--reuid=web1', '--regid=web1', '--init-groups', '--'];
      const planting = await sandbox.exec([...asHost, 'mkdir', '/srv/backups/web1/.ssh'], { reject: false });
      expect(planting.exitCode).not.toBe(0);
      // Even if the files were there (root plants them here), sshd must not use them.
      await sandbox.exec(['mkdir', '-m', '1777', '/srv/attack-markers']);
      await sandbox.exec(['mkdir', '-m', '0755', '/srv/backups/web1/.ssh']);
      await sandbox.writeFile('/srv/backups/web1/.ssh/rc', '#!/bin/sh\ntouch /srv/attack-markers/rc-ran\n', { mode: '0755' });
      await sandbox.writeFile('/srv/backups/web1/.ssh/environment', 'BORG_ATTACK_ENVIRONMENT_FILE=1\n', { mode: '0644' });
      try {
        const { session: opened, serve } = await serveSession({});
        const environment = await environmentOf(serve.pid);
        await opened.close();
        expect(environment).not.toHaveProperty('BORG_ATTACK_ENVIRONMENT_FILE');
        expect((await sandbox.exec(['ls', '-A', '/srv/attack-markers'])).stdout).toBe('');
        return `web1 cannot create ~/.ssh (${planting.stderr.trim()}); planted by root, rc did not run and environment was not read`;
      } finally {
        await sandbox.exec(['rm', '-rf', '/srv/backups/web1/.ssh']);
      }
    });

    attack(group, 'sftp: list / and fetch /etc/passwd', async () => {
      const local = `${borg().dir}/sftp-passwd`;
      const result = await execa(
        'sftp',
        ['-b', '-', ...clientSshOptions(borg()), '-P', String(web1().port), 'web1@127.0.0.1'],
        sftpRun(borg(), `ls /\nget /etc/passwd ${local}\n`),
      );
      expect(result.exitCode).not.toBe(0);
      expect(existsSync(local)).toBe(false);
      expect(String(result.stdout)).not.toContain('passwd');
      return `sftp exit ${result.exitCode}: "${String(result.stderr).trim().split('\n').pop()}"; nothing fetched`;
    });

    attack(group, 'scp (SFTP and legacy -O): fetch /etc/passwd, upload a file', async () => {
      const fetched = `${borg().dir}/scp-passwd`;
      const uploaded = `${scratch?.path}/uploaded-by-scp`;
      for (const mode of [[], ['-O']]) {
        const download = await execa(
          'scp',
          [...mode, ...clientSshOptions(borg()), '-P', String(web1().port), 'web1@127.0.0.1:/etc/passwd', fetched],
          sftpRun(borg(), ''),
        );
        const upload = await execa(
          'scp',
          [...mode, ...clientSshOptions(borg()), '-P', String(web1().port), `${borg().dataDir}/hello.txt`, `web1@127.0.0.1:${uploaded}`],
          sftpRun(borg(), ''),
        );
        expect(download.exitCode, `download ${mode}`).not.toBe(0);
        expect(upload.exitCode, `upload ${mode}`).not.toBe(0);
      }
      expect(existsSync(fetched)).toBe(false);
      expect(existsSync(uploaded)).toBe(false);
      return 'scp and scp -O failed both ways; no file fetched, none uploaded';
    });
  });
});

function sftpRun(client: BorgClient, input: string) {
  return {
    input,
    reject: false,
    timeout: 30_000,
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: client.homeDir },
    extendEnv: false,
  } as const;
}

/**
 * What agent forwarding would leave in `directory` for this UID: sshd's
 * `ssh-XXXX` directories and sockets. Other files of the UID (another run's,
 * made under the same UID) are not the attack's.
 */
async function agentSocketsOwnedBy(uid: number, directory: string): Promise<string[]> {
  const owned: string[] = [];
  for (const entry of await readdir(directory)) {
    try {
      const stats = await lstat(`${directory}/${entry}`);
      const isAgentPlace = stats.isSocket() || (stats.isDirectory() && entry.startsWith('ssh-'));
      if (stats.uid === uid && isAgentPlace) owned.push(entry);
    } catch {
      // Gone while we looked.
    }
  }
  return owned;
}
