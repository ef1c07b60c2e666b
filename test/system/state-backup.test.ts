import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BORGCTL_PATH, createSandbox, type Sandbox, type SandboxProcess } from '../support/sandbox.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { httpsUrl, startHttpsServer, stopHttpsSandbox } from '../support/tls-server.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `borgctl state backup` and `borgctl state restore` with the real server:
 * a copy made while the server runs (and while hosts are being added) is
 * restored into an empty state directory on an /etc without the host
 * accounts (a fresh container's); the server started on it serves the same
 * hosts with the same UIDs, SSH host keys and TLS key, and a host backs up
 * with the key and known_hosts it had. Root's scheduled copies go into a
 * root-only directory of the backup volume, the newest few kept.
 */

const COPY = '/srv/state-copy.tar';
const OLD_STATE = '/srv/old-state';

interface HostListed {
  name: string;
  uid: number;
  fingerprint: string;
}

interface ServerIdentity {
  tlsPin: string | null;
  sshHostKeys: { type: string; key: string; fingerprint: string }[];
}

describe('server state backup and restore', () => {
  let sandbox: Sandbox | undefined;
  let server: SandboxProcess | undefined;
  let client: BorgClient | undefined;

  beforeEach(async () => {
    sandbox = await createSandbox();
    client = await createBorgClient('db1');
  });

  afterEach(async (context) => {
    await client?.remove();
    await stopHttpsSandbox(sandbox, server, context);
  });

  async function start(env: Record<string, string> = {}): Promise<void> {
    server = await startHttpsServer(sandbox as Sandbox, { env: { BORG_SERVER_STATE_BACKUP_INTERVAL: 'off', ...env } });
  }

  async function stopServer(): Promise<void> {
    expect(await server?.stop()).toMatchObject({ exitCode: 0, wasKilled: false });
  }

  async function listHosts(): Promise<HostListed[]> {
    const listed = JSON.parse((await (sandbox as Sandbox).borgctl(['hosts', 'list', '--json'])).stdout) as HostListed[];
    return listed.map(({ name, uid, fingerprint }) => ({ name, uid, fingerprint })).sort((a, b) => a.name.localeCompare(b.name));
  }

  async function serverIdentity(): Promise<ServerIdentity> {
    const box = sandbox as Sandbox;
    const shown = await box.borgctl(['server', '--json'], { env: { BORG_SERVER_PUBLIC_URL: httpsUrl(box) } });
    const { tlsPin, sshHostKeys } = JSON.parse(shown.stdout) as ServerIdentity;
    return { tlsPin, sshHostKeys };
  }

  async function accountLine(name: string): Promise<string> {
    return (await (sandbox as Sandbox).exec(['getent', 'passwd', name], { reject: false })).stdout.trim();
  }

  it('restores a copy made while hosts are added into an empty state directory: same hosts, UIDs, host keys and TLS pin', async () => {
    const box = sandbox as Sandbox;
    const borg = client as BorgClient;
    await start();
    await box.borgctl(['createuser', 'db1', borg.publicKey]);
    const identity = await serverIdentity();
    expect(identity.tlsPin).toMatch(/^sha256\/\S+=$/);
    await borg.writeKnownHosts(identity.sshHostKeys.map((key) => `[127.0.0.1]:${box.sshPort} ${key.type} ${key.key}`));
    const repository = `ssh://db1@127.0.0.1:${box.sshPort}/./repo`;
    expect(await borg.run(['init', '--encryption', 'none', repository])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repository}::before`, borg.dataDir])).toMatchObject({ exitCode: 0 });

    // Hosts are added one after another while the copy is made: the copy must hold a consistent state, some prefix of them.
    const writerKeys = await box.exec([
      'sh',
      '-c',
      "mkdir /srv/keys && for i in $(seq 1 30); do ssh-keygen -q -t ed25519 -N '' -f /srv/keys/w$i && cat /srv/keys/w$i.pub; done",
    ]);
    const added: string[] = [];
    let isCopyDone = false;
    const writer = (async () => {
      for (const [index, key] of writerKeys.stdout.trim().split('\n').entries()) {
        if (isCopyDone) return;
        await box.borgctl(['createuser', `w${index + 1}`, key]);
        added.push(`w${index + 1}`);
      }
    })();
    // Its failure is reported where it is awaited, below.
    writer.catch(() => {});
    await waitFor('a first host added by the writer', () => (added.length > 0 ? true : undefined), 60_000);
    const backup = await box.borgctl(['state', 'backup', COPY], { timeoutMs: 120_000 }).finally(() => {
      isCopyDone = true;
    });
    await writer;
    expect(backup.stderr).toContain(`wrote the server state to ${COPY}`);
    expect((await box.exec(['stat', '-c', '%a %u', COPY])).stdout.trim()).toBe('600 0');
    // An admin reads it with tar: the manifest first.
    expect((await box.exec(['tar', '-tf', COPY])).stdout.split('\n')[0]).toBe('manifest.json');

    const hostsBefore = await listHosts();
    const accountsBefore = new Map(await Promise.all(hostsBefore.map(async (host) => [host.name, await accountLine(host.name)] as const)));
    const restoreWhileRunning = await box.borgctl(['state', 'restore', COPY], { reject: false });
    expect(restoreWhileRunning.exitCode).toBe(1);
    expect(restoreWhileRunning.stderr).toMatch(/a server is running on \/srv\/state/);
    await stopServer();

    // A fresh container: the old state volume set aside, and an /etc without the host accounts (--force: /proc is this
    // machine's, where another test's process may run with the same UID).
    await box.exec(['mv', box.stateDir, OLD_STATE]);
    for (const host of hostsBefore) await box.exec(['userdel', '--force', host.name]);
    expect(await accountLine('db1')).toBe('');

    const intoOldState = await box.borgctl(['state', 'restore', COPY], { reject: false, env: { BORG_SERVER_STATE_DIR: OLD_STATE } });
    expect(intoOldState.exitCode).toBe(1);
    expect(intoOldState.stderr).toMatch(/already holds a server state .*: restore only into an empty state volume/);

    const restored = await box.borgctl(['state', 'restore', COPY]);
    expect(restored.stderr).toMatch(/restored the server state of \S+ \(server \S+, \d+ files\) into \/srv\/state/);
    const modes = await box.exec([
      'stat',
      '-c',
      '%n %U %a',
      box.stateDir,
      `${box.stateDir}/root`,
      `${box.stateDir}/root/root.db`,
      `${box.stateDir}/db`,
      `${box.stateDir}/db/borg.db`,
      `${box.stateDir}/db/signing/enrollment-signing-key.jwk`,
      `${box.stateDir}/ssh/ssh_host_ed25519_key`,
      `${box.stateDir}/tls/key.pem`,
    ]);
    expect(modes.stdout.trim().split('\n')).toEqual([
      '/srv/state root 711',
      '/srv/state/root root 700',
      '/srv/state/root/root.db root 600',
      '/srv/state/db borg-api 700',
      '/srv/state/db/borg.db borg-api 600',
      '/srv/state/db/signing/enrollment-signing-key.jwk borg-api 600',
      '/srv/state/ssh/ssh_host_ed25519_key root 600',
      '/srv/state/tls/key.pem root 640',
    ]);

    await start();
    const hostsAfter = await listHosts();
    // db1 and the hosts added before the copy, with the UIDs and keys they had; none the copy could not have seen.
    const restoredWriters = hostsAfter.filter((host) => host.name !== 'db1').map((host) => host.name);
    expect(added.slice(0, restoredWriters.length).sort()).toEqual([...restoredWriters].sort());
    expect(hostsAfter).toEqual(hostsBefore.filter((host) => hostsAfter.some((after) => after.name === host.name)));
    expect(hostsAfter.map((host) => host.name)).toContain('db1');
    for (const host of hostsAfter) expect(await accountLine(host.name)).toBe(accountsBefore.get(host.name));
    expect(await serverIdentity()).toEqual(identity);
    expect((await box.exec(['stat', '-c', '%u', `${box.backupDir}/db1/repo`])).stdout.trim()).toBe(
      String(hostsBefore.find((host) => host.name === 'db1')?.uid),
    );

    // The host backs up with the key and known_hosts it had: nothing changed on its side.
    expect(await borg.run(['create', `${repository}::after`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    expect((await borg.run(['list', '--short', repository])).stdout.split('\n').filter(Boolean)).toEqual(['before', 'after']);
  });

  it('refuses a damaged copy and writes nothing', async () => {
    const box = sandbox as Sandbox;
    await start();
    // Through standard output and input ("-"), as an admin pipes a copy off the machine and back.
    const borgctl = `${process.execPath} ${BORGCTL_PATH}`;
    await box.exec(['sh', '-c', `${borgctl} state backup - > ${COPY}`], { env: box.serverEnvironment });
    expect((await box.exec(['tar', '-tf', COPY])).stdout.split('\n')).toContain('root/root.db');
    await stopServer();
    await box.exec(['mv', box.stateDir, OLD_STATE]);
    // One byte of root's database changed, far into the archive: the structure holds, its checksum does not.
    await box.exec(['sh', '-c', `printf 'X' | dd of=${COPY} bs=1 seek=3000 conv=notrunc status=none`]);
    const damaged = await box.exec(['sh', '-c', `${borgctl} state restore - < ${COPY}`], { env: box.serverEnvironment, reject: false });
    expect(damaged.exitCode).toBe(1);
    expect(damaged.stderr).toMatch(/not a valid server state archive: root\/root\.db does not match its checksum/);
    expect((await box.exec(['ls', '-A', box.stateDir], { reject: false })).stdout.trim()).toBe('');
  });

  it('keeps its own copies in a root-only directory of the backup volume, the newest few', async () => {
    const box = sandbox as Sandbox;
    await start({ BORG_SERVER_STATE_BACKUP_INTERVAL: '1s', BORG_SERVER_STATE_BACKUP_KEEP: '2' });
    const copiesDir = `${box.backupDir}/.server-state`;
    await waitFor(
      'three copies logged',
      () => ((server?.output().match(/"msg":"server state copied"/g) ?? []).length >= 3 ? true : undefined),
      60_000,
    );
    // Stopped between two copies (a copy is written and pruned in one step), two are left: the newest.
    await stopServer();
    const logged = (server?.output() ?? '')
      .split('\n')
      .filter((line) => line.includes('"msg":"server state copied"'))
      .map((line) => (JSON.parse(line) as { path: string }).path);
    const copies = await box.exec(['ls', '-A', copiesDir]);
    expect(copies.stdout.trim().split('\n')).toEqual(logged.slice(-2).map((path) => path.slice(copiesDir.length + 1)));
    expect((await box.exec(['stat', '-c', '%a %U', copiesDir])).stdout.trim()).toBe('700 root');
    const newest = logged.at(-1) as string;
    expect((await box.exec(['stat', '-c', '%a %U', newest])).stdout.trim()).toBe('600 root');
    expect((await box.exec(['tar', '-tf', newest])).stdout.split('\n')).toEqual(
      expect.arrayContaining(['manifest.json', 'root/root.db', 'api/state.tar', 'ssh/ssh_host_ed25519_key', 'tls/key.pem']),
    );
  });
});
