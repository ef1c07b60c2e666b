import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BORGCTL_PATH, canConnect, createSandbox, type Sandbox, type SandboxProcess } from '../support/sandbox.js';
import { createAdminToken, type MintedToken } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { SYSTEM_PATH } from '../support/system-path.js';
import {
  createTestAuthority,
  createTestCertificate,
  createTestKeys,
  DAYS_MS,
  pinOfCertificate,
  pinOfKeys,
} from '../support/tls-certificates.js';
import { type ManInTheMiddle, startManInTheMiddle } from '../support/tls-man-in-the-middle.js';
import { httpsUrl, requestOverHttps, startHttpsServer, stopHttpsSandbox } from '../support/tls-server.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue 5: the enroll command an admin copies is safe on a hostile network.
 * The server runs with BORG_SERVER_PUBLIC_URL=https://127.0.0.1:PORT; the VM
 * side runs outside the sandbox with real curl, sh, ssh and borg and a HOME of
 * its own in a temporary directory.
 */

const FINGERPRINT_PATTERN = /SHA256:[A-Za-z0-9+/]{43}/;
const HSTS = 'max-age=31536000';

interface TokenRow {
  jti: string;
  status: string;
}

/** A shell line run as the VM would: `sh -c LINE`, nothing of this machine's environment but PATH. */
function startOnVm(line: string, homeDir: string, input?: string, env: Record<string, string> = {}) {
  let stderr = '';
  const subprocess = execa('sh', ['-c', line], {
    env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: homeDir, ...env },
    extendEnv: false,
    cwd: homeDir,
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
    reject: false,
    timeout: 120_000,
  });
  subprocess.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { subprocess, stderr: () => stderr };
}

async function fileExists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

describe('transport security with the self-signed certificate the server makes', () => {
  let sandbox: Sandbox | undefined;
  let server: SandboxProcess | undefined;
  let vmDir: string;
  let vmHome: string;
  let url: string;
  let adminToken: string;
  let pin: string;
  let mitm: ManInTheMiddle | undefined;

  const admin = <Body>(method: string, path: string, body?: unknown) =>
    requestOverHttps<Body>(`${url}${path}`, { method, body, bearer: adminToken, pin });
  const mint = async (host: string) => {
    const response = await admin<MintedToken>('POST', '/v1/admin/tokens', { host });
    expect(response.status).toBe(201);
    return response.body;
  };
  /** What the server recorded: enrollments, hosts and the token's state. */
  const serverRecords = async (jti: string) => ({
    enrollments: (await admin<{ enrollments: unknown[] }>('GET', '/v1/admin/enrollments')).body.enrollments,
    hosts: (await admin<{ hosts: unknown[] }>('GET', '/v1/admin/hosts')).body.hosts,
    token: (await admin<{ tokens: TokenRow[] }>('GET', '/v1/admin/tokens')).body.tokens.find((row) => row.jti === jti)?.status,
  });

  beforeEach(async () => {
    vmDir = await mkdtemp(join(tmpdir(), 'borg-vm-'));
    vmHome = join(vmDir, 'home');
    await execa('mkdir', ['-m', '0700', vmHome]);
    sandbox = await createSandbox();
    url = httpsUrl(sandbox);
    server = await startHttpsServer(sandbox);
    adminToken = await createAdminToken(sandbox);
    // The pin the test trusts: the key of the certificate the server keeps in its state directory.
    pin = pinOfCertificate(await sandbox.readFile(`${sandbox.stateDir}/tls/certificate.pem`));
  });

  afterEach(async (context) => {
    await mitm?.close();
    mitm = undefined;
    await rm(vmDir, { recursive: true, force: true });
    await stopHttpsSandbox(sandbox, server, context);
  });

  it('reports the pin of the key it serves, the same as openssl computes from the certificate', async () => {
    const response = await requestOverHttps<{ tlsPin: string; publicUrl: string }>(`${url}/v1/server`);
    expect(response.body).toMatchObject({ tlsPin: pin, publicUrl: url });
    expect(pinOfCertificate(response.certificate.toString())).toBe(pin);
    const openssl = await sandbox?.exec([
      'sh',
      '-c',
      `openssl x509 -in ${sandbox.stateDir}/tls/certificate.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`,
    ]);
    expect(`sha256//${openssl?.stdout.trim()}`).toBe(pin);
  });

  it('stops the minted command at a man in the middle before the token leaves the VM or anything runs', async () => {
    const marker = join(vmDir, 'mitm-script-ran');
    mitm = await startManInTheMiddle({ hostName: '127.0.0.1', enrollScript: `#!/bin/sh\nprintf '%s\\n' "$*" > '${marker}'\n` });
    const minted = await mint('victim1');
    expect(minted.command).toBe(
      `enroll=$(curl -k --pinnedpubkey '${pin}' -fsS ${url}/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${minted.token}' sh -s -- --pin '${pin}'`,
    );
    // The network sends the VM to the attacker: same command, another host:port.
    const diverted = minted.command.replaceAll(url, mitm.url);
    expect(diverted).toContain(`${mitm.url}/enroll.sh`);

    const run = startOnVm(diverted, vmHome);
    const finished = await run.subprocess;

    expect(run.stderr()).toMatch(/curl: \(90\) SSL: public key does not match pinned public key/);
    // The provisioning that ran the line learns that nothing was enrolled: curl's own status.
    expect(finished.exitCode).toBe(90);
    expect(finished.stdout).toBe('');
    expect(await fileExists(marker)).toBe(false);
    expect(await readdir(vmHome)).toEqual([]);
    // The attacker was reached (a TLS handshake) but got no request, no header, not one byte of plaintext.
    expect(mitm.connectionCount).toBeGreaterThan(0);
    expect(mitm.requests).toEqual([]);
    expect(mitm.receivedText()).toBe('');
    expect(await serverRecords(minted.jti)).toEqual({ enrollments: [], hosts: [], token: 'issued' });
  });

  it('without the pin the same man in the middle would get the token and run its script', async () => {
    // The control for the test above: the attacker's server works; only the pin stops it.
    const marker = join(vmDir, 'mitm-script-ran');
    const enrollScript = `#!/bin/sh\nprintf '%s %s\\n' "$*" "$BORG_ENROLL_TOKEN" > '${marker}'\n`;
    mitm = await startManInTheMiddle({ hostName: '127.0.0.1', enrollScript });
    const minted = await mint('victim2');
    const unpinned = minted.command.replaceAll(url, mitm.url).replace(`--pinnedpubkey '${pin}' `, '');
    expect(unpinned).not.toContain('--pinnedpubkey');

    const finished = await startOnVm(unpinned, vmHome).subprocess;
    expect(finished.exitCode).toBe(0);
    expect(mitm.requests.map((request) => `${request.method} ${request.url}`)).toEqual(['GET /enroll.sh']);
    expect(await readFile(marker, 'utf8')).toContain(minted.token);
  });

  it('enroll.sh with --pin sends nothing and writes nothing when the server it reaches has another key', async () => {
    mitm = await startManInTheMiddle({ hostName: '127.0.0.1', enrollScript: 'exit 0\n' });
    const minted = await mint('victim3');
    // The genuine script, fetched over the pinned channel; then the network diverts its API calls.
    const script = await requestOverHttps<string>(`${url}/enroll.sh`, { pin });
    expect(script.status).toBe(200);
    const run = startOnVm(`sh -s -- --server '${mitm.url}' --pin '${pin}'`, vmHome, script.text, { BORG_ENROLL_TOKEN: minted.token });
    const finished = await run.subprocess;

    expect(finished.exitCode).not.toBe(0);
    expect(run.stderr()).toMatch(/public key does not match pinned public key/);
    expect(finished.stdout).toBe('');
    expect(mitm.connectionCount).toBeGreaterThan(0);
    expect(mitm.requests).toEqual([]);
    expect(mitm.receivedText()).toBe('');
    // Not even a backup key was made before the server was checked.
    expect(await readdir(vmHome)).toEqual([]);
    expect(await serverRecords(minted.jti)).toEqual({ enrollments: [], hosts: [], token: 'issued' });
  });

  it('enrolls with the minted command over the pinned channel, and borg backs up trusting only the host keys it received', async () => {
    const box = sandbox as Sandbox;
    const borg: BorgClient = await createBorgClient('tls1');
    try {
      const minted = await mint('tls1');
      const run = startOnVm(minted.command, vmHome);
      const shown = await waitFor('the fingerprint enroll.sh shows', async () => FINGERPRINT_PATTERN.exec(run.stderr())?.[0], 30_000);
      const pending = await admin<{ enrollments: { id: string; hostname: string; fingerprint: string }[] }>(
        'GET',
        '/v1/admin/enrollments?status=pending',
      );
      expect(pending.body.enrollments).toEqual([expect.objectContaining({ hostname: 'tls1', fingerprint: shown })]);
      const approval = await admin('POST', `/v1/admin/enrollments/${pending.body.enrollments[0]?.id}/approve`, { fingerprint: shown });
      expect(approval.status).toBe(200);

      const finished = await run.subprocess;
      expect(finished.exitCode, run.stderr()).toBe(0);
      const settings = Object.fromEntries(
        [...String(finished.stdout).matchAll(/^export (BORG_REPO|BORG_RSH)='([^']*)'$/gm)].map((match) => [match[1], match[2]]),
      );
      expect(settings.BORG_REPO).toBe(`ssh://tls1@127.0.0.1:${box.sshPort}/./repo`);
      // The cipher order at its end is the enroll script's test's (test/system/enroll-script.test.ts).
      const [pinnedRsh, cipherList] = (settings.BORG_RSH as string).split(' -o Ciphers=');
      expect(pinnedRsh).toBe(
        `ssh -i ${vmHome}/.ssh/borg_ed25519 -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${vmHome}/.ssh/known_hosts`,
      );
      expect(cipherList).toMatch(/^[\w@.-]+(,[\w@.-]+)*$/);

      // known_hosts holds exactly the host keys sshd has, read from the server's own files.
      const hostKeyLines = await Promise.all(
        ['ed25519', 'rsa'].map(async (type) => {
          const [keyType, key] = (await box.readFile(`${box.stateDir}/ssh/ssh_host_${type}_key.pub`)).trim().split(' ');
          return `[127.0.0.1]:${box.sshPort} ${keyType} ${key}`;
        }),
      );
      const knownHosts = (await readFile(join(vmHome, '.ssh', 'known_hosts'), 'utf8')).trim().split('\n');
      expect(knownHosts.sort()).toEqual(hostKeyLines.sort());

      const env = { HOME: vmHome, BORG_REPO: settings.BORG_REPO as string, BORG_RSH: settings.BORG_RSH as string };
      const extractDir = join(vmDir, 'extract');
      await execa('mkdir', [extractDir]);
      expect(await borg.run(['init', '--encryption', 'none'], { env })).toMatchObject({ exitCode: 0 });
      expect(await borg.run(['create', '::first', borg.dataDir], { env })).toMatchObject({ exitCode: 0 });
      expect(await borg.run(['list', '--short'], { env })).toMatchObject({ exitCode: 0, stdout: 'first\n' });
      expect(await borg.run(['extract', '::first'], { env, cwd: extractDir })).toMatchObject({ exitCode: 0 });
      expect(await readFile(join(extractDir, borg.dataDir, 'hello.txt'), 'utf8')).toBe('hello from tls1\n');
    } finally {
      await borg.remove();
    }
  });

  it('gives no answer to plain HTTP on its port', async () => {
    const box = sandbox as Sandbox;
    const plain = await execa('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${box.httpPort}/healthz`], { reject: false });
    expect(plain.exitCode).not.toBe(0);
    expect(plain.stdout).toBe('');
    const fetched = await fetch(`http://127.0.0.1:${box.httpPort}/healthz`, { signal: AbortSignal.timeout(10_000) }).then(
      (response) => `answered ${response.status}`,
      () => 'failed',
    );
    expect(fetched).toBe('failed');
    // The same port still serves HTTPS.
    expect((await requestOverHttps(`${url}/healthz`, { pin })).status).toBe(200);
  });

  it('sends HSTS on every response, and no-store on every one that carries a secret', async () => {
    const borg = await createBorgClient('tls2');
    try {
      const responses: [string, Awaited<ReturnType<typeof requestOverHttps>>][] = [];
      const call = async <Body>(what: string, path: string, options: Parameters<typeof requestOverHttps>[1] = {}) => {
        const response = await requestOverHttps<Body>(`${url}${path}`, { pin, ...options });
        responses.push([what, response]);
        return response;
      };
      await call('health', '/healthz');
      await call('server identity', '/v1/server');
      await call('enroll.sh', '/enroll.sh');
      const minted = await call<MintedToken>('token minting', '/v1/admin/tokens', {
        method: 'POST',
        body: { host: 'tls2' },
        bearer: adminToken,
      });
      expect(minted.body.token).toMatch(/^ey/);
      await call('admin token listing', '/v1/admin/tokens', { bearer: adminToken });
      const enrolled = await call<{ id: string }>('enrollment', '/v1/enroll', {
        method: 'POST',
        body: { hostname: 'tls2', publicKey: borg.publicKey },
        bearer: minted.body.token,
      });
      expect(enrolled.status).toBe(202);
      await call('approval', `/v1/admin/enrollments/${enrolled.body.id}/approve`, {
        method: 'POST',
        body: { fingerprint: borg.fingerprint },
        bearer: adminToken,
      });
      const status = await call<{ repoUrl?: string }>('enrollment status', `/v1/enrollments/${enrolled.body.id}`);
      expect(status.body.repoUrl).toBe(`ssh://tls2@127.0.0.1:${(sandbox as Sandbox).sshPort}/./repo`);
      await call('known_hosts', `/v1/enrollments/${enrolled.body.id}/known_hosts`);
      await call('wrong admin token', '/v1/admin/tokens', { bearer: 'not-the-admin-token' });
      await call('used enrollment token', '/v1/enroll', {
        method: 'POST',
        body: { hostname: 'tls2', publicKey: borg.publicKey },
        bearer: minted.body.token,
      });
      await call('bad body', '/v1/admin/tokens', { method: 'POST', body: { ttl: 'forever' }, bearer: adminToken });
      await call('unknown route', '/nope');

      const headers = responses.map(([what, response]) => ({
        what,
        status: response.status,
        hsts: response.headers['strict-transport-security'],
        cacheControl: response.headers['cache-control'],
      }));
      expect(headers.map(({ what, status }) => [what, status])).toEqual([
        ['health', 200],
        ['server identity', 200],
        ['enroll.sh', 200],
        ['token minting', 201],
        ['admin token listing', 200],
        ['enrollment', 202],
        ['approval', 200],
        ['enrollment status', 200],
        ['known_hosts', 200],
        ['wrong admin token', 401],
        ['used enrollment token', 409],
        ['bad body', 400],
        ['unknown route', 404],
      ]);
      expect(headers.filter(({ hsts, cacheControl }) => hsts !== HSTS || cacheControl !== 'no-store')).toEqual([]);
    } finally {
      await borg.remove();
    }
  });
});

describe('transport security with a given certificate (BORG_SERVER_TLS_CERT and BORG_SERVER_TLS_KEY)', () => {
  const GIVEN_DIR = '/srv/given-tls';
  const given = { BORG_SERVER_TLS_CERT: `${GIVEN_DIR}/certificate.pem`, BORG_SERVER_TLS_KEY: `${GIVEN_DIR}/key.pem` };
  let sandbox: Sandbox | undefined;
  let server: SandboxProcess | undefined;

  const writeGivenPair = async (certificatePem: string, keyPem: string) => {
    const box = sandbox as Sandbox;
    await box.writeFile(given.BORG_SERVER_TLS_KEY, keyPem, { mode: '0600' });
    await box.writeFile(given.BORG_SERVER_TLS_CERT, certificatePem, { mode: '0644' });
  };

  beforeEach(async () => {
    sandbox = await createSandbox();
    await sandbox.exec(['mkdir', '-m', '0700', GIVEN_DIR]);
  });

  afterEach(async (context) => {
    await stopHttpsSandbox(sandbox, server, context);
    server = undefined;
  });

  it('serves it, reports its pin, and takes a renewal with the same key without a restart', async () => {
    const box = sandbox as Sandbox;
    const url = httpsUrl(box);
    // As from an ACME client: issued by a CA the VMs trust, renewed with the same key.
    const authority = await createTestAuthority();
    const keys = await createTestKeys();
    const first = await createTestCertificate({ hostName: '127.0.0.1', keys, issuer: authority, serialNumber: '0a01' });
    await writeGivenPair(first.certificatePem, keys.keyPem);
    server = await startHttpsServer(box, { env: given });
    const pin = await pinOfKeys(keys);

    const before = await requestOverHttps<{ tlsPin: string }>(`${url}/v1/server`);
    expect(before.body.tlsPin).toBe(pin);
    expect(before.certificate.serialNumber).toBe(first.serialNumber);
    expect(before.certificate.fingerprint256).toBe(new X509Certificate(first.certificatePem).fingerprint256);

    // The enroll command keeps curl's CA check and adds the pin: no -k for a CA-issued certificate.
    const adminToken = await createAdminToken(box);
    const minted = await requestOverHttps<MintedToken>(`${url}/v1/admin/tokens`, { method: 'POST', body: {}, bearer: adminToken, pin });
    expect(minted.body.command).toBe(
      `enroll=$(curl --pinnedpubkey '${pin}' -fsS ${url}/enroll.sh) && printf '%s\\n' "$enroll" | BORG_ENROLL_TOKEN='${minted.body.token}' sh -s -- --pin '${pin}'`,
    );
    const download = /^enroll=\$\((curl [^)]*)\) && /.exec(minted.body.command)?.[1] as string;
    const vmDir = await mkdtemp(join(tmpdir(), 'borg-vm-'));
    try {
      await writeFile(join(vmDir, 'ca.pem'), authority.certificatePem);
      const trusting = await startOnVm(download, vmDir, undefined, { CURL_CA_BUNDLE: join(vmDir, 'ca.pem') }).subprocess;
      expect(trusting).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^#!\/bin\/sh\n/) });
      // With only the system's CAs, curl refuses the certificate (60): the command does not skip CA checks.
      expect((await startOnVm(download, vmDir).subprocess).exitCode).toBe(60);
    } finally {
      await rm(vmDir, { recursive: true, force: true });
    }
    const apiProcess = (await box.processesInside()).find((info) => info.commandLine.includes('api/main.js'));
    expect(apiProcess).toBeDefined();

    const renewed = await createTestCertificate({ hostName: '127.0.0.1', keys, issuer: authority, serialNumber: '0a02' });
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    await writeGivenPair(renewed.certificatePem, keys.keyPem);
    // The supervisor polls the given files every 5 s, the API its copy every 2 s.
    const after = await waitFor(
      'the renewed certificate to be served',
      async () => {
        const response = await requestOverHttps<{ tlsPin: string }>(`${url}/v1/server`);
        return response.certificate.serialNumber === renewed.serialNumber ? response : undefined;
      },
      60_000,
    );
    expect(after.body.tlsPin).toBe(pin);
    expect(pinOfCertificate(after.certificate.toString())).toBe(pin);
    // Neither the server nor its API child was restarted.
    expect(server.hasExited()).toBe(false);
    expect((await box.processesInside()).find((info) => info.commandLine.includes('api/main.js'))?.pid).toBe(apiProcess?.pid);

    // A bad renewal (expired) is refused with a log line; the renewed certificate stays served.
    const expired = await createTestCertificate({
      hostName: '127.0.0.1',
      keys,
      issuer: authority,
      serialNumber: '0a03',
      notBefore: new Date(Date.now() - 90 * DAYS_MS),
      notAfter: new Date(Date.now() - DAYS_MS),
    });
    await writeGivenPair(expired.certificatePem, keys.keyPem);
    await waitFor(
      'the supervisor to refuse the expired renewal',
      async () => (server?.output().includes('the new TLS certificate was not taken') ? true : undefined),
      60_000,
    );
    expect(server.output()).toMatch(/"reason":"the TLS certificate expired on [^"]+","msg":"the new TLS certificate was not taken/);
    expect((await requestOverHttps(`${url}/healthz`, { pin })).certificate.serialNumber).toBe(renewed.serialNumber);
  });

  it.each([
    {
      problem: 'an expired certificate',
      pair: async () => {
        const now = Date.now();
        const certificate = await createTestCertificate({
          hostName: '127.0.0.1',
          notBefore: new Date(now - 90 * DAYS_MS),
          notAfter: new Date(now - DAYS_MS),
        });
        return { certificatePem: certificate.certificatePem, keyPem: certificate.keyPem };
      },
      message: /the TLS certificate expired on \d{4}-\d\d-\d\d/,
    },
    {
      problem: 'a key that does not match the certificate',
      pair: async () => {
        const certificate = await createTestCertificate({ hostName: '127.0.0.1' });
        return { certificatePem: certificate.certificatePem, keyPem: (await createTestKeys()).keyPem };
      },
      message: /the TLS key does not belong to the TLS certificate/,
    },
    {
      problem: 'a certificate for another host',
      pair: async () => {
        const certificate = await createTestCertificate({ hostName: 'backup.example.test' });
        return { certificatePem: certificate.certificatePem, keyPem: certificate.keyPem };
      },
      message: /the TLS certificate is not valid for 127\.0\.0\.1 \(the host of BORG_SERVER_PUBLIC_URL\)/,
    },
  ])('refuses to start with $problem, saying so', async ({ pair, message }) => {
    const box = sandbox as Sandbox;
    const { certificatePem, keyPem } = await pair();
    await writeGivenPair(certificatePem, keyPem);
    server = box.spawn([process.execPath, BORGCTL_PATH, 'serve'], {
      env: { ...box.serverEnvironment, BORG_SERVER_PUBLIC_URL: httpsUrl(box), ...given },
    });
    const exit = await Promise.race([server.exited, sleep(60_000).then(() => 'still running' as const)]);
    expect(exit).toMatchObject({ exitCode: 1 });
    // Its last words may still be in the pipe when the exit is seen.
    const spawned = server;
    await waitFor(
      () => `the reason on standard error; it printed:\n${spawned.output()}`,
      async () => (message.test(spawned.output()) ? true : undefined),
      30_000,
    );
    // It stopped before anything listened.
    expect(await canConnect(box.httpPort)).toBe(false);
    expect(await canConnect(box.sshPort)).toBe(false);
  });
});
