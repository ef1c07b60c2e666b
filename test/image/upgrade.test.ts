import { chmod, chown, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerLogs, createCleanup, createVolume, execInContainer, freePorts, uniqueRunId } from '../support/podman.js';
import { waitFor } from '../support/wait-for.js';
import { borgClient, generateKey, readTree, removeTree, writeSampleTree } from './borg-client.js';
import { expectOk, type HostView, type ServerInfo } from './server-api.js';
import { type ServerContainer, startServer } from './server-container.js';
import { ensureTestImage } from './test-image.js';

/**
 * Upgrade from secured-borg-server: its users directory (one public-key file
 * per user) and its /backups/NAME/repo repositories, made here with this
 * machine's borg, are mounted into a new server, which must import the users
 * as hosts that keep their repositories, their UIDs and their keys.
 */

const cleanup = createCleanup();
const runId = uniqueRunId();

/** Old users: a plain key line, and one with the options huncrys' forks wrote in front of the key. */
const OLD_USERS = [
  { name: 'old1', uid: 1001, withOptions: false },
  { name: 'old2', uid: 1002, withOptions: true },
] as const;

let workDirectory: string;
let sshPort: number;
let server: ServerContainer;
const keys = new Map<string, { path: string; fingerprint: string }>();

function oldClient(name: string) {
  const key = keys.get(name);
  if (!key) throw new Error(`no key for ${name}`);
  return borgClient(join(workDirectory, `client-${name}`), {
    BORG_RSH: `ssh -i ${key.path} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${join(workDirectory, 'known_hosts')}`,
    // The repositories are unencrypted (as many of the ancestor's were) and new to this client's borg.
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
  });
}

beforeAll(async () => {
  workDirectory = await mkdtemp(join(tmpdir(), 'sbs-upgrade-'));
  cleanup.defer(`remove ${workDirectory}`, () => removeTree(workDirectory));
  const usersDirectory = join(workDirectory, 'config/users');
  const backupsDirectory = join(workDirectory, 'backups');
  await mkdir(usersDirectory, { recursive: true });
  await mkdir(backupsDirectory);
  await chmod(backupsDirectory, 0o755);

  // The old server's side: a key file per user and a borg repository with one archive, owned by the user.
  const maker = borgClient(join(workDirectory, 'old-server'), { BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes' });
  await writeSampleTree(join(workDirectory, 'old-data/data'), 'old');
  for (const user of OLD_USERS) {
    const keyPath = join(workDirectory, `${user.name}_ed25519`);
    const key = await generateKey(keyPath);
    keys.set(user.name, { path: keyPath, fingerprint: key.fingerprint });
    const repository = `/backups/${user.name}/repo`;
    const line = user.withOptions
      ? `command="cd \\"${repository}\\" && borg serve --restrict-to-path \\"${repository}\\"",restrict ${key.publicKey}`
      : key.publicKey;
    await writeFile(join(usersDirectory, user.name), `${line}\n`);

    const localRepository = join(backupsDirectory, user.name, 'repo');
    await mkdir(join(backupsDirectory, user.name));
    await maker.run(['init', '--encryption=none', localRepository]);
    await maker.run(['create', `${localRepository}::old-archive`, 'data'], { cwd: join(workDirectory, 'old-data') });
    for (const path of [join(backupsDirectory, user.name), ...(await allPaths(localRepository))]) await chown(path, user.uid, user.uid);
  }

  [sshPort = 0] = await freePorts(1);
  const [httpPort = 0] = await freePorts(1);
  const stateVolume = await createVolume(`sbs-upgrade-${runId}-state`, cleanup);
  const image = await ensureTestImage();
  server = await startServer(
    {
      name: `sbs-upgrade-${runId}`,
      image: image.id,
      sshPort,
      httpPort,
      mounts: {
        [stateVolume]: '/var/lib/secure-borg-server',
        [backupsDirectory]: '/backups',
        [join(workDirectory, 'config')]: '/config:ro',
      },
      environment: { BORG_SERVER_IMPORT_USERS_DIR: '/config/users' },
    },
    cleanup,
  );
  // The client takes the new server's host keys from the API, over the pinned channel.
  const info = await expectOk(server.api.request<ServerInfo>('GET', '/v1/server'));
  await writeFile(join(workDirectory, 'known_hosts'), `${info.knownHosts.join('\n')}\n`);
});

afterAll(async () => {
  await cleanup.run();
});

async function allPaths(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return [root, ...entries.map((entry) => join(entry.parentPath, entry.name))];
}

describe('upgrade from secured-borg-server', () => {
  it('imports every old user as an approved host with its key and UID', async () => {
    const listed = await execInContainer(server.name, ['borgctl', 'hosts', 'list', '--json']);
    const hosts = JSON.parse(listed.stdout) as HostView[];
    for (const user of OLD_USERS) {
      expect(hosts.find((host) => host.name === user.name)).toMatchObject({
        uid: user.uid,
        fingerprint: keys.get(user.name)?.fingerprint,
        repoUrl: `ssh://${user.name}@127.0.0.1:${sshPort}/./repo`,
      });
    }
  });

  it('keeps each repository with its owner', async () => {
    for (const user of OLD_USERS) {
      const ownership = await execInContainer(server.name, ['stat', '-c', '%u %U', `/backups/${user.name}/repo`]);
      expect(ownership.stdout.trim()).toBe(`${user.uid} ${user.name}`);
      const account = await execInContainer(server.name, ['getent', 'passwd', user.name]);
      expect(account.stdout.split(':')[2]).toBe(String(user.uid));
    }
  });

  it('logs what it imported', async () => {
    // conmon copies the container's output into its log on its own time: wait for the lines
    // themselves (they were written before the server turned healthy, so they do come).
    let logs = '';
    const importedHosts = () =>
      logs
        .split('\n')
        .filter((line) => line.includes('imported host from secured-borg-server'))
        .map((line) => (JSON.parse(line) as { host: string }).host);
    const imported = await waitFor(
      () => `${OLD_USERS.length} "imported host" lines in the container's log; it holds:\n${logs}`,
      async () => {
        logs = await containerLogs(server.name);
        const hosts = importedHosts();
        return hosts.length >= OLD_USERS.length ? hosts : undefined;
      },
      30_000,
    );
    expect(imported.sort()).toEqual(OLD_USERS.map((user) => user.name));
  });

  it('lets the old clients reach their old repositories through the new server', async () => {
    for (const user of OLD_USERS) {
      const client = oldClient(user.name);
      const repository = `ssh://${user.name}@127.0.0.1:${sshPort}/./repo`;
      expect(await client.listArchives(repository)).toEqual(['old-archive']);
      const restore = join(workDirectory, `restore-${user.name}`);
      await mkdir(restore);
      await client.run(['extract', `${repository}::old-archive`], { cwd: restore });
      expect(await readTree(join(restore, 'data'))).toEqual(await readTree(join(workDirectory, 'old-data/data')));
    }
    // Backing up goes on (append-only) where it left off.
    const client = oldClient('old1');
    const repository = `ssh://old1@127.0.0.1:${sshPort}/./repo`;
    await client.run(['create', `${repository}::after-upgrade`, 'data'], { cwd: join(workDirectory, 'old-data') });
    expect(await client.listArchives(repository)).toEqual(['old-archive', 'after-upgrade']);
  });
});
