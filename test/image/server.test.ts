import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage, reloadUntil, saveScreenshot } from '../support/browser.js';
import {
  createCleanup,
  createVolume,
  execInContainer,
  freePorts,
  inspectContainer,
  podman,
  removeContainer,
  uniqueRunId,
} from '../support/podman.js';
import { isIgnoredNote, runSshAudit, summarizeSshAudit } from '../support/ssh-audit.js';
import { SYSTEM_PATH } from '../support/system-path.js';
import { waitFor } from '../support/wait-for.js';
import { borgClient, evaluateBorgSettings, fingerprintOf, generateKey, readTree, removeTree, writeSampleTree } from './borg-client.js';
import { type EnrollmentView, expectOk, type MintedToken, type ServerInfo } from './server-api.js';
import { createAdminToken, type ServerContainer, startServer } from './server-container.js';
import { BASE_IMAGE, ensureTestImage, IMAGE_ARCHITECTURE, IMAGE_MACHINE, megabytes, type TestImage } from './test-image.js';

/**
 * The real image, end to end: build (for this machine's architecture, or for the one
 * BORG_SERVER_TEST_IMAGE_ARCH names, under emulation: scripts/test-arm64), run with published ports, enroll this
 * machine as a VM with the exact command the API hands out, back up and
 * restore with this machine's borg, re-create the container on the same
 * volumes, and stop it. The tests run in order and share one server.
 */

const cleanup = createCleanup();
const runId = uniqueRunId();
const names = {
  container: `sbs-image-${runId}`,
  recreated: `sbs-image-${runId}-recreated`,
  stateVolume: `sbs-image-${runId}-state`,
  backupsVolume: `sbs-image-${runId}-backups`,
};
const PASSPHRASE = 'image test passphrase';

let image: TestImage;
let workDirectory: string;
let vmHome: string;
let sshPort: number;
let httpPort: number;
let server: ServerContainer;
let adminToken: string;
let borgSettings: { BORG_REPO: string; BORG_RSH: string };

// The tests share one server and build on each other: a test whose groundwork failed says which
// earlier step it needed, rather than failing on its own with an error that hides the cause.
type Step = 'the server runs' | 'vm1 is enrolled' | 'vm1 has a first backup';
const reached = new Set<Step>();
function needs(...steps: Step[]) {
  const missing = steps.filter((step) => !reached.has(step));
  if (missing.length > 0) throw new Error(`this test builds on an earlier one that failed: ${missing.join(', ')} (see above)`);
}

async function startOnVolumes(name: string): Promise<ServerContainer> {
  return startServer(
    {
      name,
      image: image.id,
      sshPort,
      httpPort,
      mounts: { [names.stateVolume]: '/var/lib/secure-borg-server', [names.backupsVolume]: '/backups' },
    },
    cleanup,
  );
}

async function mintToken(host: string): Promise<MintedToken> {
  return expectOk(server.api.request<MintedToken>('POST', '/v1/admin/tokens', { bearer: adminToken, body: { host, ttl: '2h' } }));
}

async function pendingEnrollments(): Promise<EnrollmentView[]> {
  const listed = await expectOk(
    server.api.request<{ enrollments: EnrollmentView[] }>('GET', '/v1/admin/enrollments?status=pending', { bearer: adminToken }),
  );
  return listed.enrollments;
}

async function enrollByHand(token: string, publicKey: string) {
  const [type, base64] = publicKey.split(' ');
  return server.api.request<EnrollmentView>('POST', '/v1/enroll', { bearer: token, body: { publicKey: `${type} ${base64}` } });
}

function vmBorg() {
  return borgClient(vmHome, { ...borgSettings, BORG_PASSPHRASE: PASSPHRASE });
}

async function hostIdentity(container: string, host: string) {
  const passwd = await execInContainer(container, ['getent', 'passwd', host]);
  const ownership = await execInContainer(container, ['stat', '-c', '%u %U %a', `/backups/${host}/repo`]);
  return { passwd: passwd.stdout.trim(), ownership: ownership.stdout.trim() };
}

beforeAll(async () => {
  workDirectory = await mkdtemp(join(tmpdir(), 'sbs-image-'));
  cleanup.defer(`remove ${workDirectory}`, () => removeTree(workDirectory));
  vmHome = join(workDirectory, 'vm-home');
  await mkdir(vmHome, { mode: 0o700 });
  [sshPort = 0, httpPort = 0] = await freePorts(2);
  image = await ensureTestImage();
  await createVolume(names.stateVolume, cleanup);
  await createVolume(names.backupsVolume, cleanup);
});

afterAll(async () => {
  await cleanup.run();
});

describe('the image', () => {
  it(`builds from the Dockerfile on top of node:24-trixie-slim for ${IMAGE_ARCHITECTURE}, with a HEALTHCHECK, tini and no compiler`, async () => {
    const addedBytes = image.sizeBytes - image.baseSizeBytes;
    console.log(
      `image: Dockerfile adds ${megabytes(addedBytes)} on top of node:24-trixie-slim ` +
        `(image ${megabytes(image.sizeBytes)}, base stand-in ${megabytes(image.baseSizeBytes)}` +
        `${image.buildSeconds > 0 ? `, built in ${image.buildSeconds.toFixed(0)} s` : ''})`,
    );
    expect(addedBytes).toBeGreaterThan(0);
    // The ancestor listed slimming the image as a to-do: keep the layers on top of the base small.
    expect(addedBytes).toBeLessThan(150e6);

    const config = await podman([
      'image',
      'inspect',
      '--format',
      '{{json .Config.Healthcheck.Test}} {{json .Config.Entrypoint}} {{.Os}}/{{.Architecture}}',
      image.id,
    ]);
    expect(config.stdout.trim()).toBe(`["CMD","borgctl","healthcheck"] ["/usr/bin/tini","--"] linux/${IMAGE_ARCHITECTURE}`);
    const compilers = await podman(
      ['run', '--rm', '--network', 'none', '--entrypoint', '/usr/bin/which', image.id, 'gcc', 'cc', 'g++', 'c++', 'make'],
      {
        reject: false,
      },
    );
    expect(compilers.stdout.trim()).toBe('');
    // Built on the base image: its layers are the first layers of the image.
    const layersOf = async (reference: string) =>
      JSON.parse((await podman(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', reference])).stdout) as string[];
    const baseLayers = await layersOf(BASE_IMAGE);
    expect((await layersOf(image.id)).slice(0, baseLayers.length)).toEqual(baseLayers);
  });

  it('runs with ports published on loopback and turns healthy', async () => {
    server = await startOnVolumes(names.container);
    expect(server.health).toBe('healthy');
    reached.add('the server runs');
    expect(await inspectContainer(server.name, '{{.State.Health.Status}}')).toBe('healthy');

    const info = await expectOk(server.api.request<ServerInfo>('GET', '/v1/server'));
    expect(info.tlsPin).toBe(server.pin);
    expect(info).toMatchObject({ sshHost: '127.0.0.1', sshPort, publicUrl: `https://127.0.0.1:${httpPort}` });
    expect(info.sshHostKeys.map((key) => key.type)).toContain('ssh-ed25519');
  });

  it(`runs ${IMAGE_MACHINE} code throughout: the kernel's view, node, and the native module node loads`, async () => {
    needs('the server runs');
    expect((await execInContainer(server.name, ['uname', '-m'])).stdout.trim()).toBe(IMAGE_MACHINE);
    expect((await execInContainer(server.name, ['node', '-p', 'process.arch'])).stdout.trim()).toBe(
      IMAGE_ARCHITECTURE === 'arm64' ? 'arm64' : 'x64',
    );
    // better-sqlite3's addon, compiled in the build stage: its ELF header names the machine (e_machine at byte 18).
    const addon = await execInContainer(server.name, [
      'node',
      '-p',
      "require('node:fs').readFileSync('/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node').readUInt16LE(18)",
    ]);
    const EM_X86_64 = 62;
    const EM_AARCH64 = 183;
    expect(Number(addon.stdout.trim())).toBe(IMAGE_ARCHITECTURE === 'arm64' ? EM_AARCH64 : EM_X86_64);
  });

  it('enrolls a VM with the exact command the API returns, approved over the API by fingerprint', async () => {
    needs('the server runs');
    adminToken = await createAdminToken(server.name);
    const minted = await mintToken('vm1');
    expect(minted.command).toBe(
      `enroll=$(curl -k --pinnedpubkey '${server.pin}' -fsS https://127.0.0.1:${httpPort}/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${minted.token}' sh -s -- --pin '${server.pin}'`,
    );

    // The VM: a shell running the copied command, in a home of its own.
    const script = execa('sh', ['-c', minted.command], {
      env: { PATH: SYSTEM_PATH, HOME: vmHome },
      extendEnv: false,
      reject: false,
      timeout: 180_000,
    });
    cleanup.defer('stop the enroll script', async () => {
      script.kill();
      await script;
    });
    let printed = '';
    script.stderr?.on('data', (chunk: Buffer) => {
      printed += chunk.toString('utf8');
    });
    let hasExited = false;
    void script.finally(() => {
      hasExited = true;
    });

    // The admin: wait for the enrollment to show up as pending.
    const pending = await waitFor(
      () => `a pending enrollment for vm1; the script ${hasExited ? 'ended' : 'still runs'} and printed:\n${printed}`,
      async () => {
        const found = (await pendingEnrollments()).find((enrollment) => enrollment.hostname === 'vm1');
        if (!found && hasExited) throw new Error(`the enroll script ended with no pending enrollment for vm1; it printed:\n${printed}`);
        return found;
      },
      60_000,
    );

    // The fingerprint the VM printed is the one the admin confirms, and it is the VM key's. The
    // script prints it after the server has recorded the enrollment, so the enrollment can show as
    // pending before the line arrives: wait for the whole line (its newline included) itself.
    const shownFingerprint = await waitFor(
      () => `the fingerprint line from the enroll script (enrollment ${pending.id} is pending); it printed:\n${printed}`,
      () => /^\s+(SHA256:[A-Za-z0-9+/]{43})\n/m.exec(printed)?.[1],
      60_000,
    );
    const keyFingerprint = await fingerprintOf(join(vmHome, '.ssh/borg_ed25519.pub'));
    expect(shownFingerprint).toBe(keyFingerprint);
    expect(pending.fingerprint).toBe(keyFingerprint);
    const approved = await expectOk(
      server.api.request<{ status: string }>('POST', `/v1/admin/enrollments/${pending.id}/approve`, {
        bearer: adminToken,
        body: { fingerprint: shownFingerprint },
      }),
    );
    expect(approved.status).toBe('approved');

    const finished = await script;
    expect(finished.exitCode, String(finished.stderr)).toBe(0);
    borgSettings = await evaluateBorgSettings(String(finished.stdout));
    expect(borgSettings.BORG_REPO).toBe(`ssh://vm1@127.0.0.1:${sshPort}/./repo`);
    expect(borgSettings.BORG_RSH).toContain(join(vmHome, '.ssh/borg_ed25519'));

    // known_hosts came over the pinned channel and holds exactly the keys the server publishes.
    const info = await expectOk(server.api.request<ServerInfo>('GET', '/v1/server'));
    const knownHosts = (await readFile(join(vmHome, '.ssh/known_hosts'), 'utf8')).trim().split('\n');
    expect(knownHosts.sort()).toEqual([...info.knownHosts].sort());
    reached.add('vm1 is enrolled');
  });

  it("backs up and restores with this machine's borg through the forced command", async () => {
    needs('vm1 is enrolled');
    const borg = vmBorg();
    const source = join(workDirectory, 'source');
    await writeSampleTree(join(source, 'data'), 'first');
    await borg.run(['init', '--encryption=repokey-blake2']);
    await borg.run(['create', '::first', 'data'], { cwd: source });
    expect(await borg.listArchives()).toEqual(['first']);

    const restore = join(workDirectory, 'restore-first');
    await mkdir(restore);
    await borg.run(['extract', '::first'], { cwd: restore });
    expect(await readTree(join(restore, 'data'))).toEqual(await readTree(join(source, 'data')));

    const identity = await hostIdentity(server.name, 'vm1');
    const uid = identity.passwd.split(':')[2];
    expect(identity.ownership).toBe(`${uid} vm1 700`);
    reached.add('vm1 has a first backup');
  });

  it('shows the host and its backup on the admin page over HTTPS, with the restore points root read', async () => {
    needs('vm1 has a first backup');
    const browser = await launchBrowser();
    try {
      const admin = await openWatchedPage(browser, server.api.baseUrl, { acceptSelfSigned: true });
      await admin.page.goto(`${server.api.baseUrl}/ui/hosts/vm1`);
      await admin.page.getByLabel('Admin token').fill(adminToken);
      await admin.page.getByRole('button', { name: 'Log in' }).click();
      await admin.page.waitForURL(`${server.api.baseUrl}/ui/hosts/vm1`);
      const [cookie] = await admin.context.cookies();
      expect(cookie).toMatchObject({ name: '__Host-sbs_session', secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
      const lastBackup = admin.page.locator('[data-field=last-backup]');
      await reloadUntil(admin.page, async () => !(await lastBackup.textContent())?.includes('never'), 'the backup');
      expect(await admin.page.locator('h2:has-text("Restore points") + p + table td[data-label=Commit]').count()).toBeGreaterThan(0);
      await saveScreenshot(admin.page, 'image-host-page');
      expect(admin.problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("passes an external SSH audit (this machine's ssh-audit) with the image's OpenSSH", async () => {
    needs('the server runs');
    // ssh-audit 2.5.0 compares OpenSSH versions as text: it takes 10.0 for a release older than 2.x
    // ("compatibility: OpenSSH 7.4+") and lists every CVE it knows, fixed decades ago. The
    // configuration's findings are the algorithm notes; the CVE list says nothing of 10.0.
    const audited = await runSshAudit('127.0.0.1', sshPort);
    expect(audited.output).toMatch(/^\(gen\) software: OpenSSH 10\./m);
    const report = { ...audited, notes: audited.notes.filter((note) => note.section !== 'cve') };
    console.log(`image: ${summarizeSshAudit(report)} (its misdated CVE list left out)`);
    expect(
      report.notes.filter((note) => note.level !== 'info' && !isIgnoredNote(note)),
      report.output,
    ).toEqual([]);
    const offeredKex = report.notes.filter((note) => note.section === 'kex').map((note) => note.algorithm);
    expect(offeredKex[0]).toBe('mlkem768x25519-sha256');
  });

  it("serves the image's own borg 1.4 and OpenSSH 10.0 as a client, with a post-quantum key exchange", async () => {
    needs('vm1 has a first backup');
    const client = '/tmp/image-client';
    const key = await readFile(join(vmHome, '.ssh/borg_ed25519'), 'utf8');
    await execInContainer(server.name, ['sh', '-c', `umask 077 && mkdir -p ${client} && cat > ${client}/key`], { input: key });
    // sshd listens on 22 inside the container: known_hosts names the plain address.
    await execInContainer(server.name, [
      'sh',
      '-c',
      `for type in ed25519 rsa; do printf '127.0.0.1 %s\n' "$(cut -d ' ' -f 1,2 /var/lib/secure-borg-server/ssh/ssh_host_\${type}_key.pub)"; done > ${client}/known_hosts`,
    ]);
    const rsh = `ssh -v -i ${client}/key -o IdentitiesOnly=yes -o UserKnownHostsFile=${client}/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes`;
    try {
      const version = await execInContainer(server.name, ['borg', '--version']);
      expect(version.stdout).toMatch(/^borg 1\.4\./);
      const listed = await execInContainer(server.name, [
        'env',
        `HOME=${client}`,
        `BORG_BASE_DIR=${client}/borg`,
        `BORG_RSH=${rsh}`,
        `BORG_PASSPHRASE=${PASSPHRASE}`,
        'borg',
        'list',
        '--short',
        'ssh://vm1@127.0.0.1/./repo',
      ]);
      expect(listed.stdout.split('\n')).toContain('first');
      expect(listed.stderr).toMatch(/kex: algorithm: mlkem768x25519-sha256/);
      expect(listed.stderr).toMatch(/OpenSSH_10\./);
    } finally {
      await execInContainer(server.name, ['rm', '-rf', client]);
    }
  });

  describe('re-created on the same volumes', () => {
    let before: {
      info: ServerInfo;
      identity: { passwd: string; ownership: string };
      knownHosts: string;
      pendingId: string;
      unusedToken: MintedToken;
    };

    beforeAll(async () => {
      needs('vm1 is enrolled');
      // A second VM enrolls and is left pending; a third token is minted and not used.
      const pendingKey = await generateKey(join(workDirectory, 'vm2_ed25519'));
      const pending = await enrollByHand((await mintToken('vm2')).token, pendingKey.publicKey);
      expect(pending.status, JSON.stringify(pending.body)).toBe(202);
      expect(pending.body.status).toBe('pending');
      before = {
        info: await expectOk(server.api.request<ServerInfo>('GET', '/v1/server')),
        identity: await hostIdentity(server.name, 'vm1'),
        knownHosts: await readFile(join(vmHome, '.ssh/known_hosts'), 'utf8'),
        pendingId: pending.body.id,
        unusedToken: await mintToken('vm3'),
      };

      await podman(['rm', '--force', server.name]);
      const previousPin = server.pin;
      server = await startOnVolumes(names.recreated);
      expect(server.health).toBe('healthy');
      expect(server.pin).toBe(previousPin);
    });

    it('keeps the SSH host keys and the TLS key', async () => {
      const info = await expectOk(server.api.request<ServerInfo>('GET', '/v1/server'));
      expect(info.sshHostKeys).toEqual(before.info.sshHostKeys);
      expect(info.knownHosts).toEqual(before.info.knownHosts);
      expect(info.tlsPin).toBe(before.info.tlsPin);
    });

    it('keeps the host user, its UID and the ownership of its repository', async () => {
      expect(await hostIdentity(server.name, 'vm1')).toEqual(before.identity);
    });

    it('keeps a pending enrollment pending', async () => {
      expect((await pendingEnrollments()).map((enrollment) => enrollment.id)).toContain(before.pendingId);
      const polled = await expectOk(server.api.request<EnrollmentView>('GET', `/v1/enrollments/${before.pendingId}`));
      expect(polled.status).toBe('pending');
    });

    it('accepts a token minted before the re-creation', async () => {
      const key = await generateKey(join(workDirectory, 'vm3_ed25519'));
      const enrolled = await enrollByHand(before.unusedToken.token, key.publicKey);
      expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(202);
      expect(enrolled.body).toMatchObject({ status: 'pending', hostname: 'vm3', fingerprint: key.fingerprint });
    });

    it('lets the enrolled VM back up again with no change on its side', async () => {
      needs('vm1 has a first backup');
      const borg = vmBorg();
      const source = join(workDirectory, 'source');
      await writeSampleTree(join(source, 'data'), 'second');
      await borg.run(['create', '::second', 'data'], { cwd: source });
      expect(await borg.listArchives()).toEqual(['first', 'second']);
      expect(await readFile(join(vmHome, '.ssh/known_hosts'), 'utf8')).toBe(before.knownHosts);

      const restore = join(workDirectory, 'restore-second');
      await mkdir(restore);
      await borg.run(['extract', '::second'], { cwd: restore });
      expect(await readTree(join(restore, 'data'))).toEqual(await readTree(join(source, 'data')));
    });
  });

  it('stops cleanly on podman stop: exit 0 by itself, not killed at the end of the grace period', async () => {
    needs('the server runs');
    // A generous grace period, so that a slow stop shows as a long time (printed) rather than a kill.
    const startedAt = performance.now();
    await podman(['stop', '--time', '30', server.name], { timeoutMs: 60_000 });
    const stopMs = performance.now() - startedAt;
    console.log(`image: podman stop took ${(stopMs / 1000).toFixed(1)} s`);
    expect(await inspectContainer(server.name, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 0');
    await removeContainer(server.name);
  });
});
