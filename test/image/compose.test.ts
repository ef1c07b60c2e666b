import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCleanup,
  execInContainer,
  freePorts,
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
import { SYSTEM_PATH } from '../support/system-path.js';
import { removeTree } from './borg-client.js';
import { expectOk, pinnedApi, publicKeyPinOf, type ServerInfo } from './server-api.js';
import { ensureTestImage } from './test-image.js';

/**
 * compose.yaml as the README's quick start uses it, with Debian's
 * podman-compose: `.env` written beside compose.yaml as the README says
 * (`cp .env.example .env`, then its two settings edited), `up -d`, and the
 * README's own command lines run by bash, `docker compose` being
 * podman-compose here. The settings are in `.env` only, never in the
 * environment of a command: the enrollment command that a later
 * `exec -T … token create` mints must still carry them.
 *
 * The API is published on 8080, on every address, as a server's should be;
 * this test skips, saying why, when 8080 is taken on this machine. SSH is
 * published on the port `.env` names: a free one, not the default 2222, so
 * that a compose file that ignored `.env` would fail here.
 *
 * The image is the one this run built: a second compose file only replaces
 * the service's image with it, so that podman-compose neither rebuilds it nor
 * runs whatever an earlier build left under compose.yaml's tag.
 */

/** The quick start's lines this test runs; the first test holds them to the README. */
const README_LINES = {
  up: 'docker compose up -d',
  adminToken: 'ADMIN_TOKEN=$(docker compose exec -T borg borgctl admin-token create --label alice | sed -n 1p)',
  pin: "PIN=$(docker compose exec -T borg borgctl server | awk '/^TLS pin/ {print $3}')",
  mint: 'docker compose exec -T borg borgctl token create --host web1 --ttl 15m --quota 500G',
};

const API_PORT = 8080;
const PUBLIC_URL = `https://127.0.0.1:${API_PORT}`;
const cleanup = createCleanup();
const project = `sbs-compose-${uniqueRunId()}`;
const projectLabel = `label=io.podman.compose.project=${project}`;

let isApiPortTaken = false;
let sshPort = 0;
let projectDirectory: string;
let composeFiles: string[];

/** The environment of a user's shell: no BORG_SERVER_* setting in it, only .env has them. */
const SHELL_ENVIRONMENT = { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: '/root', ...PODMAN_ENVIRONMENT };

/**
 * Runs README lines with bash in the project directory, where `docker compose …`
 * is podman-compose with this test's project name and files.
 */
async function runReadmeLines(lines: string): Promise<{ stdout: string; stderr: string }> {
  const files = composeFiles.map((file) => `--file '${file}'`).join(' ');
  const script = `docker() { [ "$1" = compose ] || return 2; shift; podman-compose --project-name '${project}' ${files} "$@"; }\nset -e -o pipefail\n${lines}\n`;
  const result = await execa('bash', ['-c', script], {
    env: SHELL_ENVIRONMENT,
    extendEnv: false,
    cwd: projectDirectory,
    reject: false,
    stdin: 'ignore',
    timeout: 300_000,
  });
  if (result.exitCode !== 0) {
    throw new Error(`README lines failed (exit ${result.exitCode}):\n${lines}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
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

/** `.env.example` with its two settings edited, as the README tells a user to. */
async function writeDotEnv(directory: string): Promise<string> {
  const example = await readFile(join(REPOSITORY_ROOT, '.env.example'), 'utf8');
  const edited = example
    .replace(/^BORG_SERVER_PUBLIC_URL=.*$/m, `BORG_SERVER_PUBLIC_URL=${PUBLIC_URL}`)
    .replace(/^BORG_SERVER_SSH_PUBLIC_PORT=.*$/m, `BORG_SERVER_SSH_PUBLIC_PORT=${sshPort}`);
  expect(edited, '.env.example names both settings').not.toBe(example);
  expect(edited).toContain(`BORG_SERVER_PUBLIC_URL=${PUBLIC_URL}\n`);
  expect(edited).toContain(`BORG_SERVER_SSH_PUBLIC_PORT=${sshPort}\n`);
  await writeFile(join(directory, '.env'), edited);
  return edited;
}

beforeAll(async () => {
  isApiPortTaken = !(await isPortFreeOnAllAddresses(API_PORT));
  if (isApiPortTaken) return;
  for (;;) {
    [sshPort = 0] = await freePorts(1);
    if (sshPort !== 2222 && (await isPortFreeOnAllAddresses(sshPort))) break;
  }
  const image = await ensureTestImage();
  projectDirectory = await mkdtemp(join(tmpdir(), 'sbs-compose-'));
  cleanup.defer(`remove ${projectDirectory}`, () => removeTree(projectDirectory));
  // The checkout's compose.yaml, with .env beside it as in the checkout (podman-compose reads the
  // .env of the first compose file's directory), and not the checkout's own .env.
  await copyFile(join(REPOSITORY_ROOT, 'compose.yaml'), join(projectDirectory, 'compose.yaml'));
  await writeDotEnv(projectDirectory);
  const override = join(projectDirectory, 'compose.image-test.yaml');
  await writeFile(override, `services:\n  borg:\n    image: ${image.id}\n`);
  composeFiles = [join(projectDirectory, 'compose.yaml'), override];
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

describe('compose.yaml with podman-compose, as the quick start says', () => {
  it("runs the README's own lines", async () => {
    const readme = await readFile(join(REPOSITORY_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('    cp .env.example .env\n');
    for (const line of Object.values(README_LINES)) expect(readme).toContain(line);
  });

  it('takes its settings from .env for up -d and every later exec, and down -v removes it all', async (context) => {
    if (isApiPortTaken) {
      const message = `compose test skipped: port ${API_PORT} (published by compose.yaml on all addresses) is taken on this machine`;
      console.warn(message);
      context.skip(message);
    }

    await runReadmeLines(README_LINES.up);
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

    // The pin, computed here from the certificate in the state volume, not taken from the server's word.
    const certificate = await execInContainer(container, ['cat', '/var/lib/secure-borg-server/tls/certificate.pem']);
    const pin = publicKeyPinOf(certificate.stdout);

    // Step 2 of the quick start, its lines as written (`sed -n 1p`: podman-compose prints lines of its own after the token).
    const step2 = await runReadmeLines([README_LINES.adminToken, README_LINES.pin, 'printf "%s\\n%s\\n" "$ADMIN_TOKEN" "$PIN"'].join('\n'));
    const [adminToken = '', shownPin = ''] = step2.stdout.trim().split('\n');
    expect(shownPin, step2.stdout).toBe(pin);
    expect(adminToken, step2.stdout).toMatch(/^\S{40,}$/);

    // The API answers over HTTPS on 8080 with that key, with the admin token the line kept,
    // and reports the public URL and SSH port of .env.
    const api = pinnedApi(PUBLIC_URL, pin);
    const info = await expectOk(api.request<ServerInfo>('GET', '/v1/server'));
    expect(info).toMatchObject({ publicUrl: PUBLIC_URL, sshPort, tlsPin: pin });
    expect((await api.request('GET', '/v1/admin/hosts', { bearer: adminToken })).status).toBe(200);
    expect(await sshBanner(sshPort)).toMatch(/^SSH-2\.0-OpenSSH_/);

    // Step 3 with the CLI: the minted command points at .env's URL with the pin; the server it
    // runs in says .env's SSH port, the one the approved VM's BORG_REPO will carry.
    const minted = await runReadmeLines(README_LINES.mint);
    const command = /Run on the new host:\n {2}(.+)$/m.exec(minted.stderr)?.[1] ?? '';
    expect(command).toContain(`--pinnedpubkey '${pin}' -fsS ${PUBLIC_URL}/enroll.sh)`);
    expect(command).toMatch(/BORG_ENROLL_TOKEN='[^']+' sh -s -- --pin 'sha256\/\/[^']+'$/);
    const shownServer = await runReadmeLines('docker compose exec -T borg borgctl server');
    expect(shownServer.stdout).toMatch(new RegExp(`^SSH +127\\.0\\.0\\.1:${sshPort}$`, 'm'));
    expect(shownServer.stdout).toMatch(new RegExp(`^public URL +${PUBLIC_URL.replaceAll('.', '\\.')}$`, 'm'));

    await runReadmeLines('docker compose down -v');
    expect(await projectContainers()).toEqual([]);
    expect(await projectVolumes()).toEqual([]);
  });
});
