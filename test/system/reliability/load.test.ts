import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLoadTally, describeTally, type LoadTally, percentile, runClosedLoop } from '../../support/load-generator.js';
import { createLoadHttp, type LoadHttp, type LoadResponse } from '../../support/load-http.js';
import { isLongRun, scaled } from '../../support/long-tests.js';
import { judgeFlatness, type RssSampler, seriesInMebibytes, startRssSampler, writeRssCsv } from '../../support/process-memory.js';
import { REPOSITORY_ROOT } from '../../support/sandbox.js';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../../support/sandbox-api.js';

/**
 * Issue 18, load: the real `borgctl serve`, and from this process a mix of
 * what its clients send (enrollments with freshly minted one-time tokens, each
 * token posted several times at once; enrollment polls; admin reads; the admin
 * page; /v1/server and /healthz; and a trickle of wrong tokens and unknown ids
 * from addresses of their own, which the rate limits must stop) at the
 * highest rate the server sustains, found by a short ramp of a closed loop.
 *
 * What must hold: every answer is one the API documents for that request
 * (429 and 503 only as their JSON refusals: RATE_LIMITED, SERVER_BUSY); every
 * token is spent exactly once (one 202, the others 409 TOKEN_USED), and the
 * API holds exactly the enrollments that were answered 202; the memory of the
 * API process and of the supervisor is flat after warm-up (a leak check over
 * the RSS series, no timing threshold). The rates, statuses and the RSS
 * curve are printed, and the curve is written to test-artifacts/load-rss.csv.
 */

const LOAD_SECONDS = scaled({ short: 15, long: 60 });
const RAMP_STEP_MS = scaled({ short: 1500, long: 3000 });
/**
 * Closed-loop workers tried by the ramp, each for RAMP_STEP_MS; the load runs
 * with the number that got the most answers per second without a 503. All
 * are tried (a short step's rate is noisy on a busy machine), so that the
 * last ones also overload the server on purpose: it must refuse, not fall over.
 */
const RAMP_WORKERS = [1, 2, 4, 8, 16, 32];
/** Each token is posted this many times at once, from as many addresses: one must win. */
const POSTS_PER_TOKEN = 3;
const RSS_CSV_PATH = join(REPOSITORY_ROOT, 'test-artifacts/load-rss.csv');

/**
 * One enrollment's posts come from addresses of their own in 127.77.0.0/16,
 * 2,000 of them taken in turn, so that the per-address limit of enrollment
 * attempts (60 a minute) stays far away for real enrollments; the probes
 * that are meant to hit a limit each have one address.
 */
const ENROLL_ADDRESS_COUNT = 2000;
const enrollAddress = (index: number) => `127.77.${1 + (Math.floor(index / 250) % (ENROLL_ADDRESS_COUNT / 250))}.${1 + (index % 250)}`;
/** The API's limit of failed admin logins per address (src/api/api-limits.ts). */
const ADMIN_FAILURE_LIMIT = 20;
const PROBE_ADDRESS = {
  badAdminToken: '127.66.0.1',
  badEnrollToken: '127.66.0.2',
  unknownEnrollment: '127.66.0.3',
};

/**
 * What each kind of request may be answered, 429 and 503 aside: those only as
 * `isDocumentedRefusal` says (429 for the kinds a rate limit counts, 503
 * SERVER_BUSY for any, a busy database).
 */
const EXPECTED_STATUSES = {
  'admin-token-mint': [201],
  enroll: [202, 409],
  'enroll-bad-token': [401],
  'enrollment-poll': [200],
  'enrollment-poll-unknown': [404],
  'admin-hosts': [200],
  'admin-enrollments': [200],
  'admin-audit': [200],
  'admin-bad-token': [401],
  metrics: [200],
  server: [200],
  healthz: [200],
  'page-overview': [200],
  'page-enrollments': [200],
  'page-audit': [200],
  'page-anonymous': [303],
} as const satisfies Record<string, readonly number[]>;
type Kind = keyof typeof EXPECTED_STATUSES;
/** The kinds a per-address rate limit counts (real enrollments too, though their addresses keep them far from it). */
const RATE_LIMITED_KINDS: ReadonlySet<Kind> = new Set(['enroll', 'enroll-bad-token', 'enrollment-poll-unknown', 'admin-bad-token']);

/** The order the workers take the kinds in, over and over: mostly the everyday traffic, a probe now and then. */
const SCHEDULE: Kind[] = [
  'enroll',
  'enrollment-poll',
  'admin-hosts',
  'server',
  'enrollment-poll',
  'page-overview',
  'healthz',
  'admin-enrollments',
  'enrollment-poll',
  'enroll',
  'admin-audit',
  'page-enrollments',
  'enrollment-poll',
  'metrics',
  'healthz',
  'page-audit',
  'enrollment-poll',
  'page-anonymous',
  'enroll-bad-token',
  'admin-bad-token',
  'enrollment-poll-unknown',
];

/** An OpenSSH public key line for a fresh ed25519 key. */
function newPublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')}`;
}

/**
 * 429 and 503 as the API documents them: the JSON refusal with its code (or,
 * on the page, the error page for a busy database), and Retry-After in seconds.
 */
function isDocumentedRefusal(kind: Kind, response: LoadResponse): boolean {
  if (!/^[1-9]\d*$/.test(String(response.headers['retry-after']))) return false;
  if (response.status === 429) return RATE_LIMITED_KINDS.has(kind) && response.body?.error === 'RATE_LIMITED';
  if (response.status === 503) {
    return kind.startsWith('page-') ? response.text.includes('the server is busy') : response.body?.error === 'SERVER_BUSY';
  }
  return false;
}

interface TokenRecord {
  jti: string;
  /** What each of its posts was answered. */
  statuses: number[];
}

describe('load: mixed API traffic at the highest rate the server sustains', () => {
  let server: ServerSandbox | undefined;
  let http: LoadHttp | undefined;
  let sampler: RssSampler | undefined;

  beforeEach(async () => {
    server = await startServerSandbox();
    http = createLoadHttp(server.sandbox.baseUrl);
  });

  afterEach(async (context) => {
    sampler?.stop();
    http?.close();
    await stopServerSandbox(server, context);
  });

  it(
    `answers only documented statuses, spends each token once and keeps its memory flat (${LOAD_SECONDS} s)`,
    async () => {
      const { sandbox, api } = server as ServerSandbox;
      const client = http as LoadHttp;
      const adminToken = api.adminToken;

      const processes = await sandbox.processesInside();
      const supervisor = processes.find((info) => info.name === 'node' && / serve$/.test(info.commandLine));
      const apiChild = processes.find((info) => info.commandLine.endsWith('/api/main.js'));
      if (!supervisor || !apiChild) throw new Error(`no supervisor or API process among ${JSON.stringify(processes)}`);

      const login = await client.send({
        method: 'POST',
        path: '/ui/login',
        form: { token: adminToken, next: '/ui' },
        headers: { origin: sandbox.baseUrl },
      });
      expect(login.status).toBe(303);
      const cookie = String([login.headers['set-cookie']].flat()[0]).split(';')[0] as string;
      expect(cookie).toMatch(/^[\w-]+=\S+$/);

      const unexpected: string[] = [];
      const tokens: TokenRecord[] = [];
      const enrollmentIds: string[] = [];
      let tally: LoadTally = createLoadTally();
      let scheduled = 0;
      let probes = 0;

      const check = (kind: Kind, response: LoadResponse, extra: (response: LoadResponse) => boolean = () => true) => {
        tally.record(kind, response.status, response.latencyMs);
        const isExpected =
          ((EXPECTED_STATUSES[kind] as readonly number[]).includes(response.status) && extra(response)) ||
          isDocumentedRefusal(kind, response);
        if (!isExpected) {
          unexpected.push(`${kind}: ${response.status || response.networkError} ${response.text.slice(0, 200)}`);
        }
      };

      const adminGet = async (kind: Kind, path: string) => check(kind, await client.send({ method: 'GET', path, bearer: adminToken }));
      const pageGet = async (kind: Kind, path: string) =>
        check(kind, await client.send({ method: 'GET', path, headers: { cookie } }), (response) =>
          response.text.includes('<!DOCTYPE html>'),
        );

      async function enroll(): Promise<void> {
        const minted = await client.send({ method: 'POST', path: '/v1/admin/tokens', json: {}, bearer: adminToken });
        check('admin-token-mint', minted);
        if (minted.status !== 201) return;
        const index = tokens.length;
        const record: TokenRecord = { jti: minted.body.jti, statuses: [] };
        tokens.push(record);
        const hostname = `load-${index}`;
        const publicKey = newPublicKey();
        await Promise.all(
          Array.from({ length: POSTS_PER_TOKEN }, async (_, post) => {
            const response = await client.send({
              method: 'POST',
              path: '/v1/enroll',
              json: { hostname, publicKey },
              bearer: minted.body.token,
              from: enrollAddress(index * POSTS_PER_TOKEN + post),
              isOneShot: true,
            });
            check('enroll', response, ({ status, body }) =>
              status === 202 ? body.status === 'pending' && body.hostname === hostname : body.error === 'TOKEN_USED',
            );
            record.statuses.push(response.status);
            if (response.status === 202) enrollmentIds.push(response.body.id);
          }),
        );
      }

      async function sendBadAdminToken(): Promise<void> {
        const response = await client.send({
          method: 'GET',
          path: '/v1/admin/hosts',
          bearer: 'wrong-admin-token',
          from: PROBE_ADDRESS.badAdminToken,
        });
        check('admin-bad-token', response);
      }

      async function step(): Promise<void> {
        const kind = SCHEDULE[scheduled++ % SCHEDULE.length] as Kind;
        switch (kind) {
          case 'enroll':
            return enroll();
          case 'enrollment-poll': {
            const id = enrollmentIds[Math.floor(Math.random() * enrollmentIds.length)];
            if (id === undefined) return;
            const response = await client.send({ method: 'GET', path: `/v1/enrollments/${id}` });
            return check(kind, response, ({ body }) => body.status === 'pending');
          }
          case 'enrollment-poll-unknown': {
            const path = `/v1/enrollments/${'x'.repeat(21)}${probes++ % 10}`;
            return check(kind, await client.send({ method: 'GET', path, from: PROBE_ADDRESS.unknownEnrollment }));
          }
          case 'enroll-bad-token': {
            const response = await client.send({
              method: 'POST',
              path: '/v1/enroll',
              json: { hostname: 'probe', publicKey: newPublicKey() },
              bearer: 'not-a-token',
              from: PROBE_ADDRESS.badEnrollToken,
            });
            return check(kind, response);
          }
          case 'admin-bad-token':
            return sendBadAdminToken();
          case 'admin-hosts':
            return adminGet(kind, '/v1/admin/hosts');
          case 'admin-enrollments':
            return adminGet(kind, '/v1/admin/enrollments?status=pending');
          case 'admin-audit':
            return adminGet(kind, '/v1/admin/audit?limit=50');
          case 'metrics':
            return adminGet(kind, '/metrics');
          case 'server':
            return check(kind, await client.send({ method: 'GET', path: '/v1/server' }));
          case 'healthz':
            return check(kind, await client.send({ method: 'GET', path: '/healthz' }));
          case 'page-overview':
            return pageGet(kind, '/ui');
          case 'page-enrollments':
            return pageGet(kind, '/ui/enrollments');
          case 'page-audit':
            return pageGet(kind, '/ui/audit');
          case 'page-anonymous': {
            const response = await client.send({ method: 'GET', path: '/ui' });
            return check(kind, response, ({ headers }) => String(headers.location).startsWith('/ui/login'));
          }
        }
      }

      // Phases for the RSS series: the ramp, then the measured load.
      const phases: { name: string; fromMs: number }[] = [];
      const rssStartedAt = performance.now();
      const enterPhase = (name: string) => phases.push({ name, fromMs: performance.now() - rssStartedAt });
      const phaseOf = (atMs: number) => phases.filter((phase) => phase.fromMs <= atMs).at(-1)?.name ?? 'idle';
      sampler = startRssSampler({ api: apiChild.pid, supervisor: supervisor.pid });

      // The failed-login limit (20 in 5 minutes) tripped at once, whatever rate this machine gives: under load it must hold.
      for (let attempt = 0; attempt <= ADMIN_FAILURE_LIMIT; attempt += 1) await sendBadAdminToken();

      // The ramp: each number of workers in turn; the load runs with the one that got the most answers without a 503.
      const ramp: { workers: number; rate: number; busy: number; p99Ms: number }[] = [];
      let best = { workers: 1, rate: 0 };
      for (const workers of RAMP_WORKERS) {
        enterPhase(`ramp-${workers}`);
        tally = createLoadTally();
        const { elapsedMs } = await runClosedLoop({ workers, durationMs: RAMP_STEP_MS, step });
        const rate = tally.total() / (elapsedMs / 1000);
        const busy = [...tally.statuses.values()].reduce((sum, byStatus) => sum + (byStatus.get(503) ?? 0), 0);
        const p99Ms = percentile([...tally.latencies.values()].flat(), 0.99);
        ramp.push({ workers, rate, busy, p99Ms });
        if (busy === 0 && rate > best.rate) best = { workers, rate };
      }

      enterPhase('load');
      const loadStartedAtMs = performance.now() - rssStartedAt;
      tally = createLoadTally();
      const { elapsedMs } = await runClosedLoop({ workers: best.workers, durationMs: LOAD_SECONDS * 1000, step });
      const loadTally = tally;
      sampler.stop();

      // What the API holds now: exactly the enrollments answered 202, every token spent at most once.
      // Every page of each list: the load mints more tokens and enrollments than one page holds.
      const everyRow = async <Row>(path: string, rowsKey: string): Promise<{ statuses: number[]; rows: Row[] }> => {
        const rows: Row[] = [];
        const statuses: number[] = [];
        let cursor: string | null = null;
        do {
          const query = `${path.includes('?') ? '&' : '?'}limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
          const page = await client.send({ method: 'GET', path: `${path}${query}`, bearer: adminToken });
          statuses.push(page.status);
          if (page.status !== 200) break;
          rows.push(...(page.body[rowsKey] as Row[]));
          cursor = page.body.nextCursor as string | null;
        } while (cursor !== null);
        return { statuses, rows };
      };
      const pending = await everyRow<{ id: string }>('/v1/admin/enrollments?status=pending', 'enrollments');
      const approved = await everyRow<{ id: string }>('/v1/admin/enrollments?status=approved', 'enrollments');
      const tokenList = await everyRow<{ jti: string; status: string }>('/v1/admin/tokens', 'tokens');
      expect([...pending.statuses, ...approved.statuses, ...tokenList.statuses].every((status) => status === 200)).toBe(true);
      const tokenStatus = new Map<string, string>(tokenList.rows.map((token) => [token.jti, token.status]));

      const rssCsv = writeRssCsv(RSS_CSV_PATH, sampler.samples, phaseOf);
      const loadSamples = sampler.samples.filter((sample) => sample.atMs >= loadStartedAtMs);
      const verdicts = Object.fromEntries(
        (['api', 'supervisor'] as const).map((name) => [
          name,
          judgeFlatness(loadSamples.map((sample) => sample.rssBytes[name] ?? Number.POSITIVE_INFINITY)),
        ]),
      );
      await rssCsv;

      const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
      const rssSummary = (name: 'api' | 'supervisor') => {
        const series = sampler?.samples.map((sample) => sample.rssBytes[name] ?? Number.NaN) ?? [];
        const atLoad = loadSamples.map((sample) => sample.rssBytes[name] ?? Number.NaN);
        const warmedUp = atLoad[Math.floor(atLoad.length / 3)] ?? Number.NaN;
        return (
          `${name}: start ${mebibytes(series[0] ?? Number.NaN)}, after warm-up ${mebibytes(warmedUp)}, end ${mebibytes(atLoad.at(-1) ?? Number.NaN)}, ` +
          `middle-third max ${mebibytes(verdicts[name]?.middleMaxBytes ?? 0)}, last-third min ${mebibytes(verdicts[name]?.lastMinBytes ?? 0)}; ` +
          `series (MiB, 1/s): ${seriesInMebibytes(sampler?.samples ?? [], name).join(' ')}`
        );
      };
      console.log(
        [
          `load test (${isLongRun ? 'long' : 'short'}): ${LOAD_SECONDS} s at ${best.workers} workers, wall ${(elapsedMs / 1000).toFixed(1)} s`,
          `ramp: ${ramp.map((level) => `${level.workers} workers ${level.rate.toFixed(0)}/s (p99 ${level.p99Ms.toFixed(0)} ms${level.busy ? `, ${level.busy}×503` : ''})`).join('; ')}`,
          `total ${(loadTally.total() / (elapsedMs / 1000)).toFixed(1)} requests/s; per second: ${loadTally.perSecond.join(' ')}; per kind:`,
          ...describeTally(loadTally, elapsedMs).map((line) => `  ${line}`),
          `tokens ${tokens.length}, enrollments answered 202: ${enrollmentIds.length}, pending in the API: ${pending.rows.length}`,
          `requests sent again after the server closed an idle keep-alive connection under them: ${client.retriedOnReusedConnection}`,
          rssSummary('api'),
          rssSummary('supervisor'),
          `RSS curve written to ${RSS_CSV_PATH}`,
        ].join('\n'),
      );

      expect(unexpected.slice(0, 20)).toEqual([]);
      // The load did reach everything it meant to: enrollments won and lost, and each limit tripped.
      expect(tokens.length).toBeGreaterThan(0);
      expect(loadTally.count('enroll', 409)).toBeGreaterThan(0);
      expect(loadTally.count('admin-bad-token', 401)).toBe(0);
      expect(loadTally.count('admin-bad-token', 429)).toBeGreaterThan(0);

      for (const token of tokens) {
        const wins = token.statuses.filter((status) => status === 202).length;
        const refusedAsUsed = token.statuses.filter((status) => status === 409).length;
        if (wins === 0) {
          // No post won: then none was refused as used either (all were turned away before), and the token is unspent.
          expect({ jti: token.jti, refusedAsUsed, status: tokenStatus.get(token.jti) }).toEqual({
            jti: token.jti,
            refusedAsUsed: 0,
            status: 'issued',
          });
        } else {
          expect({ jti: token.jti, wins, status: tokenStatus.get(token.jti) }).toEqual({ jti: token.jti, wins: 1, status: 'consumed' });
        }
      }
      const pendingIds = pending.rows.map((enrollment) => enrollment.id).sort();
      expect(pendingIds).toEqual([...enrollmentIds].sort());
      expect(approved.rows).toEqual([]);

      for (const [name, verdict] of Object.entries(verdicts)) {
        expect({ name, ...verdict }).toMatchObject({ name, isFlat: true });
      }
    },
    RAMP_WORKERS.length * RAMP_STEP_MS + LOAD_SECONDS * 1000 + 240_000,
  );
});
