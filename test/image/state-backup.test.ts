import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerLogs,
  createCleanup,
  createVolume,
  execInContainer,
  freePorts,
  inspectContainer,
  podman,
  removeContainer,
  uniqueRunId,
} from '../support/podman.js';
import { waitFor } from '../support/wait-for.js';
import { borgClient, generateKey, readTree, removeTree, writeSampleTree } from './borg-client.js';
import { type EnrollmentView, expectOk, type HostView, type MintedToken, type ServerInfo } from './server-api.js';
import { createAdminToken, type ServerContainer, startServer } from './server-container.js';
import { ensureTestImage, type TestImage } from './test-image.js';

/**
 * The server's own state, backed up and restored with the real image: a
 * container's state is copied while it runs (`borgctl state backup`) into
 * the backup volume; a new container on an empty state volume, the same
 * backup volume, is restored from that copy (`borgctl state restore` in a
 * one-off container) and serves the same hosts, UIDs, SSH host keys and TLS
 * key, so an enrolled VM (this machine's borg and ssh) backs up to it with
 * no change on its side.
 */

const cleanup = createCleanup();
const runId = uniqueRunId();
const names = {
  original: `sbs-state-${runId}`,
  restored: `sbs-state-${runId}-restored`,
  originalState: `sbs-state-${runId}-state`,
  emptyState: `sbs-state-${runId}-state-new`,
  backups: `sbs-state-${runId}-backups`,
};
const STATE_PATH = '/var/lib/secure-borg-server';
const COPY = '/backups/state-copy.tar';
const PASSPHRASE = 'state backup image test';

let image: TestImage;
let workDirectory: string;
let sshPort: number;
let httpPort: number;
let server: ServerContainer;
let borgSettings: Record<string, string>;

function startOn(name: string, stateVolume: string, environment: Record<string, string> = {}): Promise<ServerContainer> {
  return startServer(
    { name, image: image.id, sshPort, httpPort, mounts: { [stateVolume]: STATE_PATH, [names.backups]: '/backups' }, environment },
    cleanup,
  );
}

/** A one-off container of the image with both volumes, as an admin runs a borgctl command before the server starts. */
function runOnce(stateVolume: string, command: string[]) {
  return podman(
    [
      'run',
      '--rm',
      '--network',
      'none',
      '--volume',
      `${stateVolume}:${STATE_PATH}`,
      '--volume',
      `${names.backups}:/backups`,
      image.id,
      ...command,
    ],
    { reject: false, timeoutMs: 120_000 },
  );
}

async function hostsOf(container: string): Promise<Pick<HostView, 'name' | 'uid' | 'fingerprint'>[]> {
  const listed = JSON.parse((await execInContainer(container, ['borgctl', 'hosts', 'list', '--json'])).stdout) as HostView[];
  return listed.map(({ name, uid, fingerprint }) => ({ name, uid, fingerprint }));
}

async function hostIdentity(container: string, host: string) {
  const passwd = await execInContainer(container, ['getent', 'passwd', host]);
  const ownership = await execInContainer(container, ['stat', '-c', '%u %U %a', `/backups/${host}/repo`]);
  return { passwd: passwd.stdout.trim(), ownership: ownership.stdout.trim() };
}

beforeAll(async () => {
  workDirectory = await mkdtemp(join(tmpdir(), 'sbs-state-'));
  cleanup.defer(`remove ${workDirectory}`, () => removeTree(workDirectory));
  [sshPort = 0, httpPort = 0] = await freePorts(2);
  image = await ensureTestImage();
  for (const volume of [names.originalState, names.emptyState, names.backups]) await createVolume(volume, cleanup);
  // Copies every 10 s (a day by default): the scheduled ones show up within the test, and one may be under way at the stop.
  server = await startOn(names.original, names.originalState, { BORG_SERVER_STATE_BACKUP_INTERVAL: '10s' });

  // A VM enrolled over the pinned API and approved by fingerprint; it backs up once.
  const adminToken = await createAdminToken(server.name);
  const keyPath = join(workDirectory, 'vm_ed25519');
  const key = await generateKey(keyPath);
  const minted = await expectOk(
    server.api.request<MintedToken>('POST', '/v1/admin/tokens', { bearer: adminToken, body: { host: 'vm1', ttl: '1h' } }),
  );
  const [type, base64] = key.publicKey.split(' ');
  const enrolled = await expectOk(
    server.api.request<EnrollmentView>('POST', '/v1/enroll', { bearer: minted.token, body: { publicKey: `${type} ${base64}` } }),
  );
  await expectOk(
    server.api.request('POST', `/v1/admin/enrollments/${enrolled.id}/approve`, {
      bearer: adminToken,
      body: { fingerprint: key.fingerprint },
    }),
  );
  const view = await expectOk(
    server.api.request<EnrollmentView & { repoUrl: string; knownHosts: string[] }>('GET', `/v1/enrollments/${enrolled.id}`),
  );
  const knownHostsPath = join(workDirectory, 'known_hosts');
  await writeFile(knownHostsPath, `${view.knownHosts.join('\n')}\n`);
  borgSettings = {
    BORG_REPO: view.repoUrl,
    BORG_RSH: `ssh -i ${keyPath} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${knownHostsPath}`,
    BORG_PASSPHRASE: PASSPHRASE,
  };
  const vm = borgClient(join(workDirectory, 'vm-home'), borgSettings);
  await writeSampleTree(join(workDirectory, 'source/data'), 'first');
  await vm.run(['init', '--encryption=repokey-blake2']);
  await vm.run(['create', '::first', 'data'], { cwd: join(workDirectory, 'source') });
});

afterAll(async () => {
  await cleanup.run();
});

describe('the server state, backed up and restored into a new container', () => {
  let before: {
    info: ServerInfo;
    hosts: Awaited<ReturnType<typeof hostsOf>>;
    identity: Awaited<ReturnType<typeof hostIdentity>>;
    knownHosts: string;
  };

  it('copies its state while it runs, and keeps its own copies in a root-only directory of the backup volume', async () => {
    const backup = await execInContainer(server.name, ['borgctl', 'state', 'backup', COPY]);
    expect(backup.stderr).toContain(`wrote the server state to ${COPY}`);
    expect((await execInContainer(server.name, ['stat', '-c', '%a %U', COPY])).stdout.trim()).toBe('600 root');
    const copied = await waitFor(
      'a scheduled state copy',
      async () => (await containerLogs(server.name)).split('\n').find((line) => line.includes('"msg":"server state copied"')),
      120_000,
    );
    const { bytes, ms } = JSON.parse(copied) as { bytes: number; ms: number };
    console.log(`image: a scheduled state copy (one host) is ${bytes} bytes, made in ${ms} ms`);
    const listed = await execInContainer(server.name, ['ls', '-la', '/backups/.server-state']);
    expect(listed.stdout).toMatch(/^drwx------ +\d+ root root .* \.$/m);
    expect(listed.stdout).toMatch(/^-rw------- +1 root root .* server-state-\S+Z\.tar$/m);

    before = {
      info: await expectOk(server.api.request<ServerInfo>('GET', '/v1/server')),
      hosts: await hostsOf(server.name),
      identity: await hostIdentity(server.name, 'vm1'),
      knownHosts: await readFile(join(workDirectory, 'known_hosts'), 'utf8'),
    };
    expect(before.hosts.map((host) => host.name)).toEqual(['vm1']);
    await podman(['stop', '--time', '30', server.name], { timeoutMs: 60_000 });
    expect(await inspectContainer(server.name, '{{.State.ExitCode}}')).toBe('0');
    await removeContainer(server.name);
  }, 300_000);

  it('refuses to restore into a state volume that holds a state', async () => {
    const refused = await runOnce(names.originalState, ['borgctl', 'state', 'restore', COPY]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/already holds a server state .*: restore only into an empty state volume/);
  });

  it('restores into an empty state volume; the new container serves the same hosts, UIDs, host keys and TLS key', async () => {
    const restored = await runOnce(names.emptyState, ['borgctl', 'state', 'restore', COPY]);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(restored.stderr).toMatch(/restored the server state of \S+ \(server \S+, \d+ files\)/);

    server = await startOn(names.restored, names.emptyState);
    expect(server.pin).toBe(before.info.tlsPin);
    const info = await expectOk(server.api.request<ServerInfo>('GET', '/v1/server'));
    expect(info.sshHostKeys).toEqual(before.info.sshHostKeys);
    expect(info.knownHosts).toEqual(before.info.knownHosts);
    expect(info.tlsPin).toBe(before.info.tlsPin);
    expect(await hostsOf(server.name)).toEqual(before.hosts);
    // The new container's /etc had no account for vm1: reconcile made it with the UID root's database holds.
    expect(await hostIdentity(server.name, 'vm1')).toEqual(before.identity);
  });

  it('lets the enrolled VM back up to it with no change on its side', async () => {
    const vm = borgClient(join(workDirectory, 'vm-home'), borgSettings);
    const source = join(workDirectory, 'source');
    await writeSampleTree(join(source, 'data'), 'second');
    await vm.run(['create', '::second', 'data'], { cwd: source });
    expect(await vm.listArchives()).toEqual(['first', 'second']);
    expect(await readFile(join(workDirectory, 'known_hosts'), 'utf8')).toBe(before.knownHosts);
    const restore = join(workDirectory, 'extracted');
    await mkdir(restore);
    await vm.run(['extract', '::second'], { cwd: restore });
    expect(await readTree(join(restore, 'data'))).toEqual(await readTree(join(source, 'data')));
  });
});
