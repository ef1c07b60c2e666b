import { writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Sandbox, SandboxProcessInfo } from '../support/sandbox.js';
import { canConnect } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { useServerAndClient } from '../support/sandbox-hooks.js';
import { httpsUrl, requestOverHttps, startHttpsServer } from '../support/tls-server.js';
import { waitFor } from '../support/wait-for.js';

/** `borgctl serve` as a process: restarts, a child that dies, SIGTERM during a backup session. */

const isSshdListener = (info: SandboxProcessInfo) => info.name === 'sshd' && info.commandLine.includes('[listener]');
const isApiChild = (info: SandboxProcessInfo) => info.commandLine.endsWith('/api/main.js');

async function healthzStatus(baseUrl: string): Promise<number | undefined> {
  try {
    return (await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return undefined;
  }
}

describe('borgctl serve', () => {
  const setup = useServerAndClient('web1');

  it('keeps its host keys, hosts and repositories across a restart', async () => {
    const { sandbox, api } = setup.server;
    const borg = setup.client;
    const { repoUrl, knownHosts } = await enrollAndApprove(api, borg, 'web1');
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });

    const firstRun = sandbox.server as NonNullable<Sandbox['server']>;
    expect(await firstRun.stop()).toMatchObject({ exitCode: 0, wasKilled: false });
    await sandbox.startServer();

    const serverInfo = await api.request<{ knownHosts: string[] }>('GET', '/v1/server');
    expect(serverInfo.body.knownHosts).toEqual(knownHosts);
    // known_hosts from before the restart, StrictHostKeyChecking=yes: the same server identity.
    expect(await borg.run(['create', `${repoUrl}::after-restart`, borg.dataDir])).toMatchObject({ exitCode: 0 });
  });

  it('upgrades a state volume of the version before root had its own database, with every host, UID, key and the pin intact', async () => {
    const { sandbox, api } = setup.server;
    const borg = setup.client;
    const { repoUrl } = await enrollAndApprove(api, borg, 'web1');
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await (sandbox.server as NonNullable<Sandbox['server']>).stop()).toMatchObject({ exitCode: 0, wasKilled: false });
    // Served over HTTPS, so that there is a TLS pair (and a pin in every enroll command) to keep.
    const overHttps = (path: string) =>
      requestOverHttps<{ uid: number; fingerprint: string; tlsPin: string | null }>(`${httpsUrl(sandbox)}${path}`, {
        bearer: api.adminToken,
      });
    let https = await startHttpsServer(sandbox);
    const pinBefore = (await overHttps('/v1/server')).body.tlsPin;
    const before = (await overHttps('/v1/admin/hosts/web1')).body;
    expect(pinBefore).toMatch(/^sha256\/\//);
    expect(await https.stop()).toMatchObject({ exitCode: 0, wasKilled: false });
    // The earlier layout: one db/borg.db (the API user's) with the hosts, the TLS pair in db/tls, no root/ and no tls/.
    const state = sandbox.stateDir;
    await sandbox.exec([
      'sh',
      '-c',
      `mkdir -p ${state}/db/tls && mv ${state}/tls/* ${state}/db/tls/ && chown -R borg-api:borg-api ${state}/db/tls`,
    ]);
    await sandbox.exec(['rm', '-rf', `${state}/root`, `${state}/tls`]);

    https = await startHttpsServer(sandbox);
    // Its output comes through a pipe this process reads on its own time: wait for the line itself.
    const upgraded = https;
    const upgradeLine = await waitFor(
      () => `the upgrade line in the output of borgctl serve; it printed:\n${upgraded.output()}`,
      () => upgraded.output().match(/^.*upgrade: root's database made from the API's.*$/m)?.[0],
      30_000,
    );
    expect(upgradeLine).toMatch(/"hosts":1,"refused":0/);
    expect((await overHttps('/v1/server')).body.tlsPin).toBe(pinBefore);
    expect((await overHttps('/v1/admin/hosts/web1')).body).toMatchObject({ uid: before.uid, fingerprint: before.fingerprint });
    expect(await sandbox.readFile('/etc/passwd')).toMatch(new RegExp(`^web1:x:${before.uid}:`, 'm'));
    const rootState = await sandbox.exec(['stat', '-c', '%U:%G %a', `${state}/root`, `${state}/root/root.db`]);
    // A directory only root can enter: whatever mode SQLite gives the file, no other user reaches it.
    expect(rootState.stdout.trim().split('\n')).toEqual(['root:root 700', expect.stringMatching(/^root:root /)]);
    // The same key, the same repository, the same owner: the host backs up as before.
    expect(await borg.run(['create', `${repoUrl}::after-upgrade`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    expect(await https.stop()).toMatchObject({ exitCode: 0, wasKilled: false });
  });

  it('starts sshd again when it dies', async () => {
    const { sandbox } = setup.server;
    const listener = await waitFor('the sshd listener', async () => (await sandbox.processesInside()).find(isSshdListener), 30_000);
    process.kill(listener.pid, 'SIGKILL');
    const replacement = await waitFor(
      'a new sshd listener',
      async () => (await sandbox.processesInside()).find((info) => isSshdListener(info) && info.pid !== listener.pid),
      30_000,
    );
    expect(replacement.pid).not.toBe(listener.pid);
    await waitFor('the SSH port', async () => ((await canConnect(sandbox.sshPort)) ? true : undefined), 30_000);
  });

  it('starts the API again when it is killed, while a backup session open across the kill completes', async () => {
    const { sandbox, api } = setup.server;
    const borg = setup.client;
    const { repoUrl } = await enrollAndApprove(api, borg, 'web1');
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    const supervisorPid = (sandbox.server as NonNullable<Sandbox['server']>).pid;
    const apiChild = await waitFor('the API child', async () => (await sandbox.processesInside()).find(isApiChild), 30_000);
    // A session open across the kill: `borg with-lock` holds it while its command runs, and the
    // command waits for a file the test makes only after the kill (not for a time, which a busy
    // machine could spend before the kill).
    const release = join(borg.homeDir, 'release-the-lock');
    const session = borg.run(['with-lock', repoUrl, 'sh', '-c', `while [ ! -e '${release}' ]; do sleep 0.1; done`], { timeoutMs: 90_000 });
    await waitFor(
      'a borg serve session',
      async () =>
        (await sandbox.processesInside()).some((info) => info.name === 'borg' && info.commandLine.includes('borg serve'))
          ? true
          : undefined,
      30_000,
    );

    process.kill(apiChild.pid, 'SIGKILL');
    await waitFor('the killed API child to be gone', async () =>
      (await sandbox.processesInside()).some((info) => info.pid === apiChild.pid) ? undefined : true,
    );
    await writeFile(release, '');
    expect((await session).exitCode).toBe(0);
    expect(await borg.run(['create', `${repoUrl}::after-api-kill`, borg.dataDir])).toMatchObject({ exitCode: 0 });

    const replacement = await waitFor(
      'a new API child',
      async () => (await sandbox.processesInside()).find((info) => isApiChild(info) && info.pid !== apiChild.pid),
      30_000,
    );
    expect(replacement.pid).not.toBe(apiChild.pid);
    await waitFor('the API to answer', async () => ((await healthzStatus(sandbox.baseUrl)) === 200 ? true : undefined), 30_000);
    expect((await api.request('GET', '/v1/admin/hosts', { bearer: api.adminToken })).status).toBe(200);
    // The supervisor itself lived on.
    expect((await sandbox.processesInside()).some((info) => info.pid === supervisorPid)).toBe(true);
  });

  it('leaves no borg session behind when it stops during a backup session', async () => {
    const { sandbox, api } = setup.server;
    const borg = setup.client;
    const { repoUrl } = await enrollAndApprove(api, borg, 'web1');
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    // `borg with-lock` holds the ssh session (and borg serve on the server) open while its command runs.
    const session = borg.run(['with-lock', repoUrl, 'sleep', '60'], { timeoutMs: 90_000 });
    await waitFor(
      'a borg serve session',
      async () =>
        (await sandbox.processesInside()).some((info) => info.name === 'borg' && info.commandLine.includes('borg serve'))
          ? true
          : undefined,
      30_000,
    );

    const serverProcess = sandbox.server as NonNullable<Sandbox['server']>;
    expect(await serverProcess.stop()).toMatchObject({ exitCode: 0, wasKilled: false });
    const remaining = await waitFor(
      'the sessions to end',
      async () => {
        const processes = await sandbox.processesInside();
        return processes.length === 0 ? processes : undefined;
      },
      30_000,
    ).catch(async () => sandbox.processesInside());
    expect(remaining).toEqual([]);
    expect((await session).exitCode).not.toBe(0);
  });

  it("ends sshd's connections that have not logged in when it stops", async () => {
    const { sandbox } = setup.server;
    // A client that connects and says nothing: sshd's child for it would wait 30 s (LoginGraceTime).
    const socket = createConnection({ port: sandbox.sshPort, host: '127.0.0.1' });
    let banner = '';
    socket.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
    });
    socket.on('error', () => {});
    try {
      await waitFor('the SSH banner', () => (banner.startsWith('SSH-2.0-') ? true : undefined));
      const serverProcess = sandbox.server as NonNullable<Sandbox['server']>;
      expect(await serverProcess.stop()).toMatchObject({ exitCode: 0, wasKilled: false });
      // Nothing waits for the children it ended: they are gone when serve has stopped.
      expect(await sandbox.processesInside()).toEqual([]);
    } finally {
      socket.destroy();
    }
  });
});
