#!/usr/bin/env node
// Issue 19, item 4: the API under load, over real HTTP on loopback, against a bare
// Hono hello-world (@hono/node-server, same Node, same machine) as the ceiling.
//   - enrollments per second and p99: POST /v1/enroll, each request a fresh one-time
//     token and a distinct ed25519 key (autocannon, `--connections` at once);
//   - the enrollment poll: GET /v1/enrollments/:id of those enrollments, under load;
//   - the admin host list at `--hosts` hosts, page by page (GET /v1/admin/hosts, cursor
//     pagination), and the admin page's host list (/ui/hosts?page=N), one request at a
//     time, against one hello-world request at a time.
// Rounds interleave the two servers. Each server is its own child process
// (bench/lib/api-server.mjs: the product's app as src/api/main.ts serves it, its
// database a file in a temporary directory, its rate limits lifted: they are not settings);
// autocannon runs here, in this process. Plain HTTP, as the default configuration serves.
// Run: npm run build && bench/api.mjs [--rounds 3] [--seconds 4] [--connections 10] [--hosts 10000]
import { execFileSync, fork } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createCpuGroup } from './lib/cpu-group.mjs';
import { ratio, writeSection } from './lib/results.mjs';

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '10' },
    hosts: { type: 'string', default: '10000' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const rounds = Number(options.rounds);
const seconds = Number(options.seconds);
const connections = Number(options.connections);
const hostCount = Number(options.hosts);
const ENROLL_TARGET = 0.3;
const PAGE_TARGET_MS = 10;
const log = (text) => process.stderr.write(`[bench/api] ${text}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))];

const directory = mkdtempSync(join(tmpdir(), 'sbs-bench-api-'));
const children = [];
const groups = [];
function cleanUp() {
  for (const child of children) child.kill();
  for (const group of groups) {
    try {
      group.remove();
    } catch {
      // its processes are still exiting; the group goes with the next run's clean-up
    }
  }
  rmSync(directory, { recursive: true, force: true });
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/** Starts a server child; resolves with its port and a request function over IPC. */
async function startServer(mode) {
  const execArgv = options['cpu-prof'] && mode === 'product' ? ['--cpu-prof', `--cpu-prof-dir=${process.cwd()}/bench-profiles`] : [];
  const child = fork(new URL('./lib/api-server.mjs', import.meta.url), [mode, directory], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  let group;
  try {
    group = createCpuGroup(`sbs-bench-api-${mode}-${process.pid}`);
    groups.push(group);
    group.add(child.pid);
  } catch (error) {
    log(`no CPU group (${error.code ?? error.message}): CPU per request is not reported`);
  }
  const pending = new Map();
  let nextId = 0;
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    child.on('message', (message) => {
      if (message.port) resolve(message.port);
      else pending.get(message.id)?.(message);
    });
  });
  const ask = (type, fields = {}) =>
    new Promise((resolve) => {
      nextId += 1;
      pending.set(nextId, resolve);
      child.send({ id: nextId, type, ...fields });
    });
  return { port, ask, group, url: `http://127.0.0.1:${port}` };
}

/** A distinct ed25519 key as an OpenSSH public key line. */
function newPublicKey() {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (buffer) => Buffer.concat([Buffer.from([0, 0, 0, buffer.length]), buffer]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')}`;
}

function cannon(settings) {
  return new Promise((resolve, reject) => {
    autocannon({ connections, pipelining: 1, ...settings }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** Runs one load; returns requests/s, p99 latency (ms), and the server's CPU ms per request when a group counts it. */
async function measure(server, settings) {
  const cpuBefore = server.group?.usage().total;
  const result = await cannon(settings);
  const cpuMs = server.group ? ((server.group.usage().total - cpuBefore) * 1000) / result.requests.total : null;
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0) log(`${settings.title}: ${failed} of ${result.requests.total} requests failed (non-2xx, errors or timeouts)`);
  const perSecond = (result.requests.total - failed) / (result.duration || 1);
  return { perSecond, p99: result.latency.p99, cpuMs, failed };
}

/** POST /v1/enroll `enrollmentsPerRound` times, each with its own token and key; the ids answered go to `ids`. */
function measureEnrollments(server, tokens, keys, prefix, ids) {
  let next = 0;
  return measure(server, {
    title: `enroll (${prefix})`,
    url: `${server.url}/v1/enroll`,
    amount: enrollmentsPerRound,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const index = next++;
          return {
            ...request,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[index]}` },
            body: JSON.stringify({ hostname: `bench-${prefix}-${index}`, publicKey: keys[index] }),
          };
        },
        onResponse: (status, body) => {
          if (status === 202) ids.push(JSON.parse(body).id);
        },
      },
    ],
  });
}

const hello = await startServer('hello');
const floor = await startServer('floor');
const product = await startServer('product');
log(`hello-world on ${hello.url}, the product's API on ${product.url}; ${hostCount} hosts being added`);
const seeded = await product.ask('seed-hosts', { count: hostCount });
const { token: adminToken } = await product.ask('admin-token');

// How many enrollments a round sends: sized from the first round so that a round lasts about `seconds`.
let enrollmentsPerRound = 1500;
const samples = { hello: [], enroll: [], floor: [], poll: [] };
let enrollmentIds = [];
for (let round = 1; round <= rounds; round += 1) {
  const { tokens } = await product.ask('mint', { count: enrollmentsPerRound + 4 * connections });
  const keys = tokens.map(() => newPublicKey());
  log(`round ${round}/${rounds}: ${enrollmentsPerRound} enrollments, then hello-world and the poll for ${seconds} s each`);

  samples.hello.push(await measure(hello, { title: 'hello-world', url: hello.url, duration: seconds }));

  const ids = [];
  const enroll = await measureEnrollments(product, tokens, keys, `p${round}`, ids);
  const floorTokens = (await floor.ask('mint', { count: enrollmentsPerRound + 4 * connections })).tokens;
  samples.floor.push(await measureEnrollments(floor, floorTokens, keys, `f${round}`, []));
  samples.enroll.push(enroll);
  enrollmentIds = ids;

  let poll = 0;
  samples.poll.push(
    await measure(product, {
      title: 'poll',
      url: product.url,
      duration: seconds,
      requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/v1/enrollments/${ids[poll++ % ids.length]}` }) }],
    }),
  );
  if (round === 1) enrollmentsPerRound = Math.max(200, Math.round(enroll.perSecond * seconds));
}
log(`the last round's ${enrollmentIds.length} enrollments were polled`);

// One request at a time, keep-alive: the latency of each page, against a hello-world request's.
async function timeGet(url, headers = {}) {
  const startedAt = process.hrtime.bigint();
  const response = await fetch(url, { headers });
  const body = await response.text();
  const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${body.slice(0, 200)}`);
  return { ms, body };
}
const pageMs = [];
const helloMs = [];
let pages = 0;
let listed = 0;
for (let walk = 0; walk < 2; walk += 1) {
  let cursor = null;
  do {
    helloMs.push((await timeGet(hello.url)).ms);
    const { ms, body } = await timeGet(`${product.url}/v1/admin/hosts${cursor ? `?cursor=${cursor}` : ''}`, {
      authorization: `Bearer ${adminToken}`,
    });
    const answer = JSON.parse(body);
    if (walk === 1) {
      pageMs.push(ms);
      pages += 1;
      listed += answer.hosts.length;
    }
    cursor = answer.nextCursor;
  } while (cursor);
}
log(`host list: ${pages} pages, ${listed} hosts (first ${seeded.first}, last ${seeded.last})`);

// The admin page's host list: log in with the admin token, then pages across the list.
const login = await fetch(`${product.url}/ui/login`, {
  method: 'POST',
  redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:8080' },
  body: new URLSearchParams({ token: adminToken }).toString(),
});
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
const webPages = Math.ceil(hostCount / 50);
const webMs = [];
const webHelloMs = [];
for (const page of [1, 2, 3, Math.ceil(webPages / 2), webPages, 1, 2, 3, Math.ceil(webPages / 2), webPages]) {
  webHelloMs.push((await timeGet(hello.url)).ms);
  webMs.push((await timeGet(`${product.url}/ui/hosts?page=${page}`, { cookie })).ms);
}

const helloRate = median(samples.hello.map((sample) => sample.perSecond));
const enrollRate = median(samples.enroll.map((sample) => sample.perSecond));
const floorRate = median(samples.floor.map((sample) => sample.perSecond));
const pollRate = median(samples.poll.map((sample) => sample.perSecond));
const helloP99 = median(samples.hello.map((sample) => sample.p99));
const fmtRate = (value) => `${Math.round(value)} req/s`;
const fmtMs = (value) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
// autocannon's latencies are whole milliseconds: a p99 under 1 ms reads 0, which no ratio can divide by.
const fmtP99 = (value) => (value === 0 ? '< 1 ms' : fmtMs(value));
const p99Ratio = (value, baseline) => (baseline === 0 ? '' : ratio(value, baseline));
const cpu = (list) => (list[0].cpuMs === null ? '' : `, ${median(list.map((sample) => sample.cpuMs)).toFixed(3)} ms CPU each`);
const pageMedian = median(pageMs);
const pageP99 = quantile(pageMs, 0.99);
const webMedian = median(webMs);

writeSection({
  number: 4,
  slug: 'api',
  title: 'API: enrollments, the enrollment poll, the admin host list',
  baseline: `a bare Hono hello-world (GET / → text, @hono/node-server, Node ${process.version}) on the same machine, loaded the same way in interleaved rounds`,
  figures: [
    {
      what: `enrollments per second (POST /v1/enroll, ${connections} connections)`,
      server: `${fmtRate(enrollRate)}${cpu(samples.enroll)}`,
      baseline: `${fmtRate(helloRate)}${cpu(samples.hello)}`,
      ratio: ratio(enrollRate, helloRate),
      target: `≥ ${ENROLL_TARGET} ×`,
      met: enrollRate >= ENROLL_TARGET * helloRate,
    },
    {
      what: 'enrollments per second against the least an enrollment does (second baseline: jose verify + one SQLite transaction)',
      server: fmtRate(enrollRate),
      baseline: `${fmtRate(floorRate)}${cpu(samples.floor)}, p99 ${fmtP99(median(samples.floor.map((sample) => sample.p99)))}`,
      ratio: ratio(enrollRate, floorRate),
    },
    ...(samples.enroll[0].cpuMs === null
      ? []
      : [
          {
            what: 'server CPU per enrollment against the least an enrollment does (less sensitive to a busy machine than the rates)',
            server: fmtMs(median(samples.enroll.map((sample) => sample.cpuMs))),
            baseline: fmtMs(median(samples.floor.map((sample) => sample.cpuMs))),
            ratio: ratio(median(samples.enroll.map((sample) => sample.cpuMs)), median(samples.floor.map((sample) => sample.cpuMs))),
          },
        ]),
    {
      what: 'enrollment p99 latency under that load',
      server: fmtP99(median(samples.enroll.map((sample) => sample.p99))),
      baseline: fmtP99(helloP99),
      ratio: p99Ratio(median(samples.enroll.map((sample) => sample.p99)), helloP99),
    },
    {
      what: `enrollment poll per second (GET /v1/enrollments/:id, ${connections} connections)`,
      server: `${fmtRate(pollRate)}${cpu(samples.poll)}`,
      baseline: fmtRate(helloRate),
      ratio: ratio(pollRate, helloRate),
    },
    {
      what: 'enrollment poll p99 latency under that load',
      server: fmtP99(median(samples.poll.map((sample) => sample.p99))),
      baseline: fmtP99(helloP99),
      ratio: p99Ratio(median(samples.poll.map((sample) => sample.p99)), helloP99),
    },
    {
      what: `a host-list page (GET /v1/admin/hosts, 100 hosts, cursor) at ${hostCount} hosts, median of ${pages}`,
      server: fmtMs(pageMedian),
      baseline: `${fmtMs(median(helloMs))} (one hello-world request)`,
      ratio: ratio(pageMedian, median(helloMs)),
      target: `< ${PAGE_TARGET_MS} ms`,
      met: pageMedian < PAGE_TARGET_MS,
    },
    {
      what: 'the same pages, p99 and slowest',
      server: `${fmtMs(pageP99)}, ${fmtMs(Math.max(...pageMs))}`,
      baseline: fmtMs(quantile(helloMs, 0.99)),
      ratio: ratio(pageP99, quantile(helloMs, 0.99)),
    },
    {
      what: `the admin page's host list (/ui/hosts?page=N, 50 hosts) at ${hostCount} hosts, median of ${webMs.length}`,
      server: fmtMs(webMedian),
      baseline: `${fmtMs(median(webHelloMs))} (one hello-world request)`,
      ratio: ratio(webMedian, median(webHelloMs)),
      target: `< ${PAGE_TARGET_MS} ms`,
      met: webMedian < PAGE_TARGET_MS,
    },
  ],
  notes: [
    `Measured with autocannon ${autocannonVersion()} in the bench's own process; each server a child process of its own (${rounds} rounds of ${seconds} s, medians). ` +
      "The product's app is src/api/main.ts's (createApp served by @hono/node-server) on a WAL database file, with its rate limits lifted for the bench " +
      '(one address may enroll 60 times a minute; the limits are not settings), and without root behind it (an enrollment that waits for approval asks root nothing). ' +
      'Every enrollment spends its own one-time token (tokens are single-use by design) with a distinct key; the poll asks for those enrollments, pending. ' +
      `Both sides share the machine's ${cpuCount()} cores with the load generator.`,
  ],
});

function autocannonVersion() {
  try {
    return execFileSync(process.execPath, ['-p', "require('autocannon/package.json').version"], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function cpuCount() {
  return execFileSync('nproc', { encoding: 'utf8' }).trim();
}

// Let the servers end by themselves (a --cpu-prof profile is written at exit), then clean up.
await Promise.all(
  children.map(
    (child) =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.disconnect();
      }),
  ),
);
// A cgroup can be removed only once the kernel has let its last task go: try for a while.
for (const group of groups.splice(0)) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      group.remove();
      break;
    } catch (error) {
      if (attempt === 40) {
        log(`could not remove ${group.path}: ${error.message}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
process.exit(0);
