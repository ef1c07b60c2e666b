import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCleanup,
  execInContainer,
  inspectContainer,
  isPortFreeOnAllAddresses,
  PODMAN_ENVIRONMENT,
  podman,
  REPOSITORY_ROOT,
  removeContainer,
  removeVolume,
  uniqueRunId,
  waitUntilHealthy,
} from '../support/podman.js';
import { removeTree } from './borg-client.js';
import { expectOk, pinnedApi, publicKeyPinOf, type ServerInfo } from './server-api.js';
import { ensureTestImage } from './test-image.js';

/**
 * compose.yaml, as the README's start command uses it, with Debian's
 * podman-compose. compose.yaml publishes 2222 and 8080 on every address, as a
 * server should; this test leaves those ports as they are and skips, saying
 * why, when either is taken on this machine.
 *
 * The image is the one this run built: a second compose file only replaces
 * the service's image with it, so that podman-compose neither rebuilds it nor
 * runs whatever an earlier build left under compose.yaml's tag.
 */

const COMPOSE_PORTS = [2222, 8080];
const cleanup = createCleanup();
const project = `sbs-compose-${uniqueRunId()}`;
const projectLabel = `label=io.podman.compose.project=${project}`;

const takenPorts: number[] = [];
let composeFiles: string[];

async function podmanCompose(args: string[]) {
  const result = await execa('podman-compose', ['--project-name', project, ...composeFiles.flatMap((file) => ['--file', file]), ...args], {
    env: { ...PODMAN_ENVIRONMENT, BORG_SERVER_PUBLIC_URL: 'https://127.0.0.1:8080' },
    cwd: REPOSITORY_ROOT,
    reject: false,
    all: true,
    timeout: 300_000,
  });
  if (result.exitCode !== 0) throw new Error(`podman-compose ${args.join(' ')} failed (exit ${result.exitCode}):\n${result.all}`);
  return String(result.all);
}

async function projectContainers(): Promise<string[]> {
  const listed = await podman(['ps', '--all', '--filter', projectLabel, '--format', '{{.Names}}']);
  return listed.stdout.split('\n').filter(Boolean);
}

async function projectVolumes(): Promise<string[]> {
  const listed = await podman(['volume', 'ls', '--filter', projectLabel, '--format', '{{.Name}}']);
  return listed.stdout.split('\n').filter(Boolean);
}

function sshBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(60_000, () => socket.destroy(new Error('no SSH banner within 60 s')));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString('latin1').split('\r\n')[0] ?? '');
    });
    socket.once('error', reject);
  });
}

beforeAll(async () => {
  for (const port of COMPOSE_PORTS) if (!(await isPortFreeOnAllAddresses(port))) takenPorts.push(port);
  if (takenPorts.length > 0) return;
  const image = await ensureTestImage();
  const workDirectory = await mkdtemp(join(tmpdir(), 'sbs-compose-'));
  cleanup.defer(`remove ${workDirectory}`, () => removeTree(workDirectory));
  const override = join(workDirectory, 'compose.image-test.yaml');
  await writeFile(override, `services:\n  borg:\n    image: ${image.id}\n`);
  composeFiles = [join(REPOSITORY_ROOT, 'compose.yaml'), override];
  // Whatever `down -v` leaves behind. podman-compose 1.0.3 never removes the project network.
  cleanup.defer(`remove network ${project}_default`, () => podman(['network', 'rm', '--force', `${project}_default`], { reject: false }));
  cleanup.defer(`remove the volumes of ${project}`, async () => {
    for (const volume of await projectVolumes()) await removeVolume(volume);
  });
  cleanup.defer(`remove the containers of ${project}`, async () => {
    for (const container of await projectContainers()) await removeContainer(container);
  });
});

afterAll(async () => {
  await cleanup.run();
});

describe('compose.yaml with podman-compose', () => {
  it('brings the stack up healthy on ports 2222 and 8080 with named volumes, and down -v removes it', async (context) => {
    if (takenPorts.length > 0) {
      const message = `compose test skipped: port ${takenPorts.join(' and ')} (published by compose.yaml on all addresses) is taken on this machine`;
      console.warn(message);
      context.skip(message);
    }

    await podmanCompose(['up', '--detach']);
    const containers = await projectContainers();
    expect(containers).toEqual([`${project}_borg_1`]);
    const [container = ''] = containers;
    expect(await waitUntilHealthy(container)).toBe('healthy');

    const mounts = JSON.parse(await inspectContainer(container, '{{json .Mounts}}')) as { Name: string; Destination: string }[];
    expect(mounts.map((mount) => `${mount.Name} ${mount.Destination}`).sort()).toEqual([
      `${project}_backups /backups`,
      `${project}_state /var/lib/secure-borg-server`,
    ]);
    expect((await projectVolumes()).sort()).toEqual([`${project}_backups`, `${project}_state`]);

    // The API answers over HTTPS on 8080 with the certificate in the state volume, and sshd on 2222.
    const certificate = await execInContainer(container, ['cat', '/var/lib/secure-borg-server/tls/certificate.pem']);
    const api = pinnedApi('https://127.0.0.1:8080', publicKeyPinOf(certificate.stdout));
    const info = await expectOk(api.request<ServerInfo>('GET', '/v1/server'));
    expect(info).toMatchObject({ publicUrl: 'https://127.0.0.1:8080', sshPort: 2222, tlsPin: api.pin });
    expect(await sshBanner(2222)).toMatch(/^SSH-2\.0-OpenSSH_/);

    await podmanCompose(['down', '--volumes']);
    expect(await projectContainers()).toEqual([]);
    expect(await projectVolumes()).toEqual([]);
  });
});
