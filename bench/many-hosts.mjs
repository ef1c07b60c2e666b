// Issue 19, items 3 and 5a: many hosts with the real server (`borgctl serve`).
//   npm run build && bench/many-hosts [SIZES] [APPROVALS] [USERADD_SIZES]
//     SIZES         host counts, default 1000,5000,10000,20000
//     APPROVALS     approvals timed at each size, default 5 (the median is reported)
//     USERADD_SIZES how many users the baseline creates with one useradd each, default 1000,2000
// Each measurement runs in its own private mount namespace (bench/in-namespace.sh):
// a fresh /etc overlay, /srv/state and /srv/backups every time.
//
// - Start to ready: N host rows are seeded straight into root's database
//   (STATE/root/root.db, the rows root keeps after it checked an approval: enrolling
//   20,000 hosts through the API would take longer than the whole budget), then
//   `borgctl serve` is started and timed until sshd answers with its banner. serve
//   starts sshd only after its first reconcile (accounts in /etc/passwd, group and
//   shadow, directories, key files): the counts are checked after, and one seeded host
//   logs in with a real `borg init` over ssh.
// - Approval to ready: a new host enrolls through the API (POST /v1/enroll) and an
//   admin approves it (POST /v1/admin/enrollments/ID/approve); timed from the approve
//   request until an ssh login of that host works (tried right after the answer, and
//   again until it does).
// - Baseline, the ancestor: one `useradd` per user, plus its directories (mkdir,
//   chown) and its key file. Start to ready is measured at USERADD_SIZES (useradd at
//   20,000 would take the whole budget) and extrapolated with a fit of a + b·n per
//   user (useradd rewrites /etc/passwd, so a user costs more as the file grows);
//   approval is measured at every size: one more useradd on an /etc/passwd, group and
//   shadow holding N users already.
// - Footprint (5a): PSS (/proc/PID/smaps_rollup) of the serve tree (supervisor,
//   API, sshd listener) idle with 0 and 10,000 hosts, against a stock Debian sshd
//   (/etc/ssh/sshd_config as installed) idle.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchHostRow } from './lib/host-rows.mjs';
import { ratio, writeSection } from './lib/results.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const log = (message) => process.stderr.write(`many-hosts: ${message}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

if (process.argv[2] === '--inside') {
  if (process.env.SBS_IN_NAMESPACE !== '1') throw new Error('--inside runs only in bench/in-namespace.sh');
  const [kind, ...rest] = process.argv.slice(3);
  const result =
    kind === 'server'
      ? await insideServer(...rest.map(Number))
      : kind === 'useradd'
        ? insideUseradd(...rest.map(Number))
        : await insideSshd();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await outside();
}

/** Runs one measurement in a fresh namespace; its last stdout line is the result. */
function measure(...args) {
  const child = spawnSync(`${here}/in-namespace.sh`, [process.execPath, fileURLToPath(import.meta.url), '--inside', ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (child.status !== 0) throw new Error(`measurement ${args.join(' ')} failed (exit ${child.status})`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1));
}

async function outside() {
  const sizes = (process.argv[2] ?? '1000,5000,10000,20000').split(',').map(Number);
  const approvals = Number(process.argv[3] ?? 5);
  const useraddSizes = (process.argv[4] ?? '1000,2000').split(',').map(Number);
  const startedAt = nowMs();
  const servers = new Map();
  const baselines = new Map();
  // Interleaved: each size's server, then the same size's baseline, then the next size.
  for (const size of [0, ...sizes]) {
    log(`server with ${size} hosts`);
    servers.set(size, measure('server', size, size === 0 ? 0 : approvals, size === 0 || size === 10000 ? 1 : 0));
    log(`  ${JSON.stringify(servers.get(size))}`);
    if (size === 0) continue;
    log(`baseline: one more useradd with ${size} users`);
    baselines.set(size, measure('useradd', 0, size, approvals));
    log(`  ${JSON.stringify(baselines.get(size))}`);
  }
  const useraddRuns = useraddSizes.map((size) => {
    log(`baseline: ${size} users, one useradd each`);
    const result = measure('useradd', size, 0, 0);
    log(`  ${JSON.stringify(result)}`);
    return result;
  });
  log('baseline: stock sshd idle');
  const sshd = measure('sshd');
  log(`  ${JSON.stringify(sshd)}`);
  // Per-user cost a + b·n (n: users already there): total(N) = a·N + b·N²/2, fitted on the measured sizes.
  const fit = fitUseradd(useraddRuns.map((run) => ({ n: run.created, ms: run.createMs })));
  const useraddTotal = (n) => {
    const measured = useraddRuns.find((run) => run.created === n);
    return measured ? { ms: measured.createMs, measured: true } : { ms: fit.a * n + (fit.b * n * n) / 2, measured: false };
  };

  const figures = [];
  for (const size of sizes) {
    const server = servers.get(size);
    const baseline = useraddTotal(size);
    figures.push({
      what: `start to ready, ${size.toLocaleString('en')} hosts`,
      server: `${(server.startMs / 1000).toFixed(2)} s`,
      baseline: `${(baseline.ms / 1000).toFixed(1)} s${baseline.measured ? '' : ' (extrapolated)'}`,
      ratio: ratio(server.startMs, baseline.ms, 3),
      ...(size === 10000 ? { target: '< 3 s', met: server.startMs < 3000 } : {}),
    });
  }
  for (const size of sizes) {
    const server = servers.get(size);
    const baseline = baselines.get(size);
    figures.push({
      what: `approval to ready, ${size.toLocaleString('en')} hosts (median of ${server.approvalMs.length})`,
      server: `${median(server.approvalMs).toFixed(0)} ms`,
      baseline: `${median(baseline.oneMoreMs).toFixed(0)} ms`,
      ratio: ratio(median(server.approvalMs), median(baseline.oneMoreMs)),
      ...(size === 10000 ? { target: '< 100 ms', met: median(server.approvalMs) < 100 } : {}),
    });
  }
  const first = servers.get(sizes[0]);
  const last = servers.get(sizes.at(-1));
  const perHost = sizes.map((size) => `${size}: ${((servers.get(size).startMs - servers.get(0).startMs) / size).toFixed(3)} ms`).join(', ');
  const notes = [
    `Start to ready: from spawning \`borgctl serve\` until sshd answers with its banner (serve starts sshd after its first reconcile), on a state volume that has its SSH host keys already (a restart, or a container re-created with a fresh /etc: every account is written again); the N hosts were seeded straight into root's database (\`STATE/root/root.db\`) before the start, not enrolled through the API (20,000 enrollments would not fit the time). With 0 hosts it took ${(servers.get(0).startMs / 1000).toFixed(2)} s (node, migrations, host keys, sshd); per host above that: ${perHost}. Every run was checked after: all N accounts in /etc/passwd, group and shadow, N key files, N backup directories, and a real \`borg init\` of one seeded host over ssh (${sizes.every((size) => servers.get(size).loginOk) ? 'succeeded at every size' : '**failed at some size**'}).`,
    `Approval to ready: a host enrolls through the API, then the admin API's approve is timed until the host's ssh login works (a login tried right after the answer succeeded first time in ${sizes.reduce((sum, size) => sum + servers.get(size).firstTryOk, 0)} of ${sizes.reduce((sum, size) => sum + servers.get(size).approvalMs.length, 0)} approvals). All approvals (ms): ${sizes
      .map(
        (size) =>
          `${size}: ${servers
            .get(size)
            .approvalMs.map((ms) => ms.toFixed(0))
            .join(', ')}`,
      )
      .join(
        '; ',
      )}. Root's reconcile pass after an approval, from its log (median ms): ${sizes.map((size) => `${size}: ${median(servers.get(size).reconcileMs).toFixed(0)}`).join(', ')}.`,
    `Baseline (the ancestor): one \`useradd\` per user, then mkdir, chown and the key file. Measured here at ${useraddRuns.map((run) => `${run.created} users: ${(run.createMs / 1000).toFixed(1)} s`).join(', ')}; the other sizes are extrapolated ${fit.isLinear ? `linearly, ${fit.a.toFixed(2)} ms a user (a fit of a + b·n, n the users already in /etc/passwd, gave no growth: the runs were noisy)` : `with a per-user cost of a + b·n (n: users already in /etc/passwd; a = ${fit.a.toFixed(2)} ms, b = ${(fit.b * 1000).toFixed(3)} µs), fitted on those runs`}. Its approval is measured at every size: one more useradd (plus directories and key file) on account files already holding N users.`,
    `Linearity: start to ready went from ${(first.startMs / 1000).toFixed(2)} s at ${first.size} hosts to ${(last.startMs / 1000).toFixed(2)} s at ${last.size} (× ${(last.startMs / first.startMs).toFixed(1)} for × ${last.size / first.size} the hosts). Benchmark wall time: ${((nowMs() - startedAt) / 1000).toFixed(0)} s.`,
  ];
  writeSection({
    number: 3,
    slug: 'many-hosts',
    title: 'Many hosts: start to ready, approval to ready',
    baseline: "the ancestor's one `useradd` per user (plus mkdir, chown and key file), on the same machine in the same run",
    figures,
    notes,
  });

  const footprint = (size) => servers.get(size)?.footprint;
  const footprintFigures = [0, 10000]
    .filter((size) => footprint(size))
    .map((size) => ({
      what: `serve tree idle, ${size.toLocaleString('en')} hosts (PSS)`,
      server: `${(footprint(size).pssKb / 1024).toFixed(1)} MiB`,
      baseline: `${(sshd.pssKb / 1024).toFixed(1)} MiB`,
      ratio: ratio(footprint(size).pssKb, sshd.pssKb, 1),
    }));
  writeSection({
    number: '5a',
    slug: 'footprint-hosts',
    title: 'Footprint idle with 0 and 10,000 hosts',
    baseline: "a stock Debian sshd (`/usr/sbin/sshd -D`, the installed /etc/ssh/sshd_config) idle, the listener's PSS",
    figures: footprintFigures,
    notes: [
      `PSS from /proc/PID/smaps_rollup summed over the serve tree, read after it was idle for a few seconds: ${[0, 10000]
        .filter((size) => footprint(size))
        .map(
          (size) =>
            `${size} hosts: ${footprint(size)
              .processes.map(
                (process) => `${process.name} ${(process.pssKb / 1024).toFixed(1)} MiB (RSS ${(process.rssKb / 1024).toFixed(1)})`,
              )
              .join(', ')}`,
        )
        .join('; ')}. The stock sshd: RSS ${(sshd.rssKb / 1024).toFixed(1)} MiB.`,
    ],
  });
}

function fitUseradd(points) {
  // total(N) = a·N + b·N²/2: least squares on the measured points (one point: b = 0).
  if (points.length < 2) return { a: points[0].ms / points[0].n, b: 0 };
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  let sx = 0;
  let sy = 0;
  for (const { n, ms } of points) {
    const x = n;
    const y = (n * n) / 2;
    sxx += x * x;
    sxy += x * y;
    syy += y * y;
    sx += x * ms;
    sy += y * ms;
  }
  const det = sxx * syy - sxy * sxy;
  const a = (sx * syy - sy * sxy) / det;
  const b = (sy * sxx - sx * sxy) / det;
  // A noisy machine can make the larger run cheaper per user: then linear, from all the runs.
  return b < 0 ? { a: points.reduce((sum, p) => sum + p.ms, 0) / points.reduce((sum, p) => sum + p.n, 0), b: 0, isLinear: true } : { a, b };
}

// ---- inside the namespace ----

function freePorts(count) {
  const output = execFileSync('python3', [
    '-c',
    `import socket\ns=[socket.socket() for _ in range(${count})]\n[x.bind(("127.0.0.1",0)) for x in s]\nprint(*[x.getsockname()[1] for x in s])`,
  ]);
  return String(output).trim().split(' ').map(Number);
}

/** Resolves when a TCP server on the port answers with an SSH banner. */
function sshAnswers(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('data', (chunk) => {
      data += chunk;
      if (data.includes('\n')) done(data.startsWith('SSH-'));
    });
    socket.on('error', () => done(false));
  });
}

function sshLogin(key, user, port) {
  // The forced command (borg serve) runs with an empty stdin and ends; 255 is ssh's own failure (refused login).
  const result = spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-i',
      key,
      '-p',
      String(port),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      `${user}@127.0.0.1`,
      'true',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  return result.status !== 255;
}

function borgInit(key, user, port, work) {
  const result = spawnSync('borg', ['init', '-e', 'none', `ssh://${user}@127.0.0.1:${port}/./repo`], {
    env: {
      ...process.env,
      BORG_BASE_DIR: `${work}/borg-${user}`,
      BORG_RSH: `ssh -F /dev/null -i ${key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`,
    },
    encoding: 'utf8',
  });
  if (result.status !== 0) log(`borg init as ${user} failed: ${result.stderr}`);
  return result.status === 0;
}

function keypair(path) {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

function processTree(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(Number(entry));
    } catch {
      // gone
    }
  }
  const tree = [];
  const walk = (id) => {
    tree.push(id);
    for (const child of children.get(id) ?? []) walk(child);
  };
  walk(pid);
  return tree;
}

function memoryOf(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const name = cmdline.some((arg) => arg.includes('api/main')) ? 'API' : cmdline[0]?.includes('sshd') ? 'sshd' : 'supervisor';
  return { pid, name, pssKb: field('Pss'), rssKb: field('Rss') };
}

function treeMemory(pid) {
  const processes = processTree(pid).map(memoryOf);
  return { pssKb: processes.reduce((sum, p) => sum + p.pssKb, 0), rssKb: processes.reduce((sum, p) => sum + p.rssKb, 0), processes };
}

async function seedRootDatabase(count, publicKey) {
  const { openRootDatabase } = await import(`${root}/dist/root/root-database.js`);
  const { hosts } = await import(`${root}/dist/db/schema.js`);
  const [keyType, keyBase64] = publicKey.split(' ');
  const { db } = openRootDatabase('/srv/state/root', '/srv/state/root/root.db');
  const now = new Date();
  const rows = Array.from({ length: count }, (_, index) =>
    benchHostRow(`h${index}`, 20000 + index, { keyType, keyBase64, createdAt: now, updatedAt: now }),
  );
  for (let start = 0; start < rows.length; start += 500)
    db.insert(hosts)
      .values(rows.slice(start, start + 500))
      .run();
  db.$client?.close?.();
}

/** The server's SSH host keys, made before the clock starts: a restart keeps them in its state volume. */
async function makeHostKeys() {
  const { HOST_KEY_TYPES, hostKeyPath } = await import(`${root}/dist/identity/ssh-host-keys.js`);
  mkdirSync('/srv/state/ssh', { recursive: true, mode: 0o711 });
  for (const type of HOST_KEY_TYPES)
    execFileSync('ssh-keygen', ['-q', ...type.arguments, '-N', '', '-C', '', '-f', hostKeyPath('/srv/state/ssh', type.name)]);
}

async function insideServer(size, approvals, withFootprint) {
  const work = '/srv/bench-work';
  mkdirSync(work, { recursive: true });
  mkdirSync('/srv/state', { recursive: true, mode: 0o711 });
  const seededKey = keypair(`${work}/seeded`);
  await seedRootDatabase(size, seededKey);
  await makeHostKeys();
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'borg-api']);
  const [sshPort, httpPort] = freePorts(2);
  const env = {
    ...process.env,
    BORG_SERVER_STATE_DIR: '/srv/state',
    BORG_SERVER_BACKUP_DIR: '/srv/backups',
    BORG_SERVER_SSH_PORT: String(sshPort),
    BORG_SERVER_HTTP_HOST: '127.0.0.1',
    BORG_SERVER_HTTP_PORT: String(httpPort),
    BORG_SERVER_PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
    BORG_SERVER_SSH_HOST: '127.0.0.1',
    BORG_SERVER_LOG_LEVEL: 'info',
    BORG_SERVER_STATE_BACKUP_INTERVAL: 'off',
  };
  // MANY_HOSTS_CPU_PROF=DIR: a CPU profile of the supervisor (node --cpu-prof) into DIR.
  const profile = process.env.MANY_HOSTS_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.MANY_HOSTS_CPU_PROF}`] : [];
  const serverLog = [];
  const startedAt = nowMs();
  const server = spawn(process.execPath, [...profile, `${root}/bin/borgctl`, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [server.stdout, server.stderr]) stream.on('data', (chunk) => serverLog.push(String(chunk)));
  let exited = false;
  server.on('exit', () => {
    exited = true;
  });
  try {
    while (!(await sshAnswers(sshPort))) {
      if (exited) throw new Error(`serve exited:\n${serverLog.join('')}`);
      await sleep(10);
    }
    const startMs = nowMs() - startedAt;
    log(`  ready after ${startMs.toFixed(0)} ms`);
    // What ready means, checked after the clock stopped.
    const count = (text, pattern) => text.split('\n').filter((line) => pattern.test(line)).length;
    const counts = {
      passwd: count(readFileSync('/etc/passwd', 'utf8'), /^h\d+:/),
      group: count(readFileSync('/etc/group', 'utf8'), /^h\d+:/),
      shadow: count(readFileSync('/etc/shadow', 'utf8'), /^h\d+:/),
      keyFiles: readdirSync('/srv/state/ssh/authorized_keys').filter((name) => /^h\d+$/.test(name)).length,
      directories: readdirSync('/srv/backups').filter((name) => /^h\d+$/.test(name)).length,
    };
    if (Object.values(counts).some((value) => value !== size)) throw new Error(`not ready at ${size}: ${JSON.stringify(counts)}`);
    const loginOk = size === 0 ? true : borgInit(`${work}/seeded`, `h${Math.floor(size / 2)}`, sshPort, work);

    // Wait for the API, then an admin token.
    const api = `http://127.0.0.1:${httpPort}`;
    for (let tries = 0; ; tries += 1) {
      const answer = await fetch(`${api}/healthz`).catch(() => null);
      if (answer?.ok) break;
      if (tries > 300) throw new Error('the API did not come up');
      await sleep(50);
    }
    const tokenOutput = execFileSync(`${root}/bin/borgctl`, ['admin-token', 'create'], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const adminToken = tokenOutput.trim().split('\n').at(-1);
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const approvalMs = [];
    const reconcileMs = [];
    let firstTryOk = 0;
    let onlyHostPasses = 0;
    for (let round = 0; round < approvals; round += 1) {
      const name = `new${round}`;
      const publicKey = keypair(`${work}/${name}`);
      const token = await (
        await fetch(`${api}/v1/admin/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ host: name }) })
      ).json();
      const enrolled = await (
        await fetch(`${api}/v1/enroll`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ hostname: name, publicKey }),
        })
      ).json();
      if (!enrolled.id) throw new Error(`enroll failed: ${JSON.stringify(enrolled)} (token ${JSON.stringify(token)})`);
      const logLength = serverLog.join('').length;
      const approveStarted = nowMs();
      const approved = await fetch(`${api}/v1/admin/enrollments/${enrolled.id}/approve`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ fingerprint: enrolled.fingerprint }),
      });
      let readyAt = nowMs();
      if (!approved.ok) throw new Error(`approve failed: ${approved.status} ${await approved.text()}`);
      let tries = 0;
      while (!sshLogin(`${work}/${name}`, name, sshPort)) {
        tries += 1;
        if (tries > 200) throw new Error(`${name} cannot log in`);
        await sleep(5);
        readyAt = nowMs();
      }
      if (tries === 0) firstTryOk += 1;
      approvalMs.push(readyAt - approveStarted);
      const logSince = serverLog.join('').slice(logLength);
      const reconciled = [...logSince.matchAll(/"ms":(\d+)[^\n]*"msg":"reconciled"|"msg":"reconciled"[^\n]*"ms":(\d+)/g)];
      if (reconciled.length > 0) reconcileMs.push(Number(reconciled.at(-1)[1] ?? reconciled.at(-1)[2]));
      // The pass for the approved host only (reconcile-host.ts) logs its name; a full pass does not.
      const passLine = logSince.split('\n').findLast((line) => line.includes('"msg":"reconciled"')) ?? '';
      const passKind = passLine.includes(`"host":"${name}"`) ? 'for the host only' : 'full';
      if (passKind === 'for the host only') onlyHostPasses += 1;
      log(`  approval ${round}: ${(readyAt - approveStarted).toFixed(0)} ms (reconcile ${reconcileMs.at(-1)} ms, ${passKind})`);
    }
    if (approvals > 0 && !borgInit(`${work}/new0`, 'new0', sshPort, work)) throw new Error('the approved host cannot use borg');
    let footprint = null;
    if (withFootprint) {
      await sleep(5000);
      footprint = treeMemory(server.pid);
    }
    return { size, startMs, counts, loginOk, approvalMs, reconcileMs, onlyHostPasses, firstTryOk, footprint };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (exited ? resolve() : server.on('exit', resolve)));
    rmSync(work, { recursive: true, force: true });
  }
}

/** The ancestor: one useradd per user, its home and repository directories, its key file. */
function addUserTheOldWay(name, publicKey) {
  execFileSync('/usr/sbin/useradd', ['--no-create-home', '--home-dir', `/srv/old/${name}`, '--shell', '/bin/sh', name]);
  const uid = Number(/^[^:]+:[^:]*:(\d+):/m.exec(execFileSync('getent', ['passwd', name], { encoding: 'utf8' }))[1]);
  mkdirSync(`/srv/old/${name}/repo`, { recursive: true, mode: 0o700 });
  chownSync(`/srv/old/${name}`, 0, uid);
  chownSync(`/srv/old/${name}/repo`, uid, uid);
  mkdirSync(`/srv/old/${name}/.ssh`, { mode: 0o700 });
  writeFileSync(
    `/srv/old/${name}/.ssh/authorized_keys`,
    `command="borg serve --restrict-to-repository /srv/old/${name}/repo --append-only",restrict ${publicKey}\n`,
    {
      mode: 0o600,
    },
  );
  chownSync(`/srv/old/${name}/.ssh`, uid, uid);
  chownSync(`/srv/old/${name}/.ssh/authorized_keys`, uid, uid);
}

function insideUseradd(create, existing, extra) {
  const publicKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench';
  mkdirSync('/srv/old', { recursive: true });
  let createMs = 0;
  if (create > 0) {
    const startedAt = nowMs();
    for (let index = 0; index < create; index += 1) {
      addUserTheOldWay(`u${index}`, publicKey);
      if (index % 500 === 499) log(`  ${index + 1} users, ${((nowMs() - startedAt) / 1000).toFixed(1)} s`);
    }
    createMs = nowMs() - startedAt;
  }
  // N users already there, as N useradds would have left the files (written at once: only the next useradd is timed).
  if (existing > 0) {
    const lines = (render) => `${Array.from({ length: existing }, (_, index) => render(`o${index}`, 30000 + index)).join('\n')}\n`;
    const append = (path, text) => writeFileSync(path, readFileSync(path, 'utf8') + text);
    append(
      '/etc/passwd',
      lines((name, id) => `${name}:x:${id}:${id}::/srv/old/${name}:/bin/sh`),
    );
    append(
      '/etc/group',
      lines((name, id) => `${name}:x:${id}:`),
    );
    append(
      '/etc/shadow',
      lines((name) => `${name}:!:20000:0:99999:7:::`),
    );
  }
  const oneMoreMs = [];
  for (let round = 0; round < extra; round += 1) {
    const startedAt = nowMs();
    addUserTheOldWay(`extra${round}`, publicKey);
    oneMoreMs.push(nowMs() - startedAt);
  }
  return { created: create, createMs, existing, oneMoreMs };
}

async function insideSshd() {
  const [port] = freePorts(1);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-p', String(port)], { stdio: 'ignore' });
  try {
    while (!(await sshAnswers(port))) await sleep(10);
    await sleep(5000);
    const memory = memoryOf(sshd.pid);
    return { pssKb: memory.pssKb, rssKb: memory.rssKb };
  } finally {
    sshd.kill('SIGTERM');
  }
}
