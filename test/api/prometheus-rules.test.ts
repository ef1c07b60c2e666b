import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createDeliveryWorker } from '../../src/api/notify/delivery-worker.js';
import { createHttpSender } from '../../src/api/notify/http-sender.js';
import { applyRootReports } from '../../src/api/root-reports.js';
import { backupReport } from '../support/ended-sessions.js';
import { enrollApproved } from '../support/enrollment-flow.js';
import { useSshKeys, useTestApi } from '../support/fixture-hooks.js';
import { type PrometheusScrape, parsePrometheusText } from '../support/prometheus-text.js';
import { SYSTEM_PATH } from '../support/system-path.js';
import { callApi } from '../support/test-context.js';

/**
 * The README's metrics table and the example alert rules (examples/prometheus/)
 * held against the real /metrics: the rules are checked with Debian's promtool,
 * then evaluated by `promtool test rules` on what the server serves for a fleet
 * with a host in each state an alert is about, and one healthy host.
 */

const RULES_FILE = fileURLToPath(new URL('../../examples/prometheus/borg-server-rules.yml', import.meta.url));
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

const keys = useSshKeys({ healthy: 'ed25519', stale: 'ed25519', old: 'ed25519', full: 'ed25519', broken: 'ed25519' });
// The failing webhook's receiver is on loopback: allowed as an admin would (BORG_SERVER_OUTGOING_ALLOW).
const LOOPBACK_ALLOWED = '127.0.0.0/8';
const api = useTestApi({ BORG_SERVER_OUTGOING_ALLOW: LOOPBACK_ALLOWED });

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

async function promtool(args: string[]) {
  const result = await execa('promtool', args, {
    env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8' },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
  if (result.code === 'ENOENT')
    throw new Error("promtool is missing: scripts/install-system-packages.sh installs it (Debian's prometheus)");
  return result;
}

function call(method: string, path: string, body?: unknown) {
  return callApi(api.app, method, path, { token: api.adminToken, ...(body === undefined ? {} : { body }) });
}

let nextReportId = 1;

/** What root reports when a backup session of the host ends at the test clock's now. */
function reportBackup(host: string, quotaBytes: number | null, repositoryBytes: number): void {
  applyRootReports(api.context.db, [backupReport(nextReportId++, host, api.clock.now().getTime(), { quotaBytes, repositoryBytes })]);
}

/** What root reports when a check of the host's repository ends at the test clock's now. */
function reportCheck(host: string, outcome: 'ok' | 'failed' | 'interrupted' | 'error'): void {
  const at = api.clock.now().getTime();
  const id = nextReportId++;
  applyRootReports(api.context.db, [
    { id, report: { kind: 'check', check: { id, hostName: host, startedAt: at - MINUTE_MS, endedAt: at, outcome, detail: null } } },
  ]);
}

async function setHost(host: string, changes: Record<string, unknown>): Promise<{ quotaBytes: number | null }> {
  const response = await call('PATCH', `/v1/admin/hosts/${host}`, changes);
  expect(response.status).toBe(200);
  return response.body;
}

/** A receiver on 127.0.0.1 that answers every delivery 503. */
async function startRefusingReceiver() {
  let arrivals = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      arrivals += 1;
      response.writeHead(503).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals: () => arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Five hosts, one per alert about a host, plus one failing webhook:
 * healthy (backed up 10 minutes ago, 10 % of its quota, its last check interrupted by a backup: routine),
 * stale (expects a backup every 2 h, backed up 3 h ago), old (expects one a week, backed up 3 days ago),
 * full (95 % of its quota), broken (its last check failed). Returns the scrape of /metrics.
 */
async function scrapeFleet(): Promise<{ text: string; scrape: PrometheusScrape }> {
  nextReportId = 1;
  for (const host of ['healthy', 'stale', 'old', 'full', 'broken'] as const) {
    await enrollApproved(api.app, api.adminToken, host, keys[host]);
  }
  await setHost('stale', { expectBackupEvery: '2h' });
  await setHost('old', { expectBackupEvery: '7d' });
  const healthyQuota = (await setHost('healthy', { quota: '1G' })).quotaBytes ?? 0;
  const fullQuota = (await setHost('full', { quota: '1G' })).quotaBytes ?? 0;

  api.clock.advance(HOUR_MS);
  reportBackup('old', null, 4096);
  api.clock.advance(3 * DAY_MS - 4 * HOUR_MS);
  reportBackup('stale', null, 4096);
  api.clock.advance(3 * HOUR_MS - 10 * MINUTE_MS);
  reportCheck('healthy', 'ok');
  reportBackup('healthy', healthyQuota, Math.round(healthyQuota * 0.1));
  reportCheck('healthy', 'interrupted');
  reportBackup('full', fullQuota, Math.round(fullQuota * 0.95));
  reportBackup('broken', null, 4096);
  reportCheck('broken', 'failed');
  api.clock.advance(10 * MINUTE_MS);

  const receiver = await startRefusingReceiver();
  try {
    const webhook = await call('POST', '/v1/admin/webhooks', { url: receiver.url });
    expect(webhook.status).toBe(201);
    expect((await call('POST', `/v1/admin/webhooks/${webhook.body.id}/test`)).status).toBeLessThan(300);
    const worker = createDeliveryWorker({
      db: api.context.db,
      now: api.clock.now,
      send: createHttpSender({ allowed: LOOPBACK_ALLOWED }),
      publicUrl: api.context.config.publicUrl,
      logger: { warn() {}, error() {} },
    });
    expect(await worker.deliverDue()).toBe(1);
    expect(receiver.arrivals()).toBe(1);
  } finally {
    await receiver.close();
  }

  const response = await call('GET', '/metrics');
  expect(response.status).toBe(200);
  return { text: response.text, scrape: parsePrometheusText(response.text) };
}

interface ExpectedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Every alert of the example rules, and what it must say for the fleet of scrapeFleet: exactly these fire. */
const EXPECTED_ALERTS: Record<string, ExpectedAlert[]> = {
  BorgHostStale: [
    {
      labels: { severity: 'warning', host: 'stale' },
      annotations: { summary: 'Host stale has not backed up within its expected period' },
    },
  ],
  BorgHostNoBackupForTwoDays: [
    {
      labels: { severity: 'critical', host: 'old' },
      annotations: { summary: 'Host old has not backed up for more than two days' },
    },
  ],
  BorgHostQuotaAbove90Percent: [
    {
      labels: { severity: 'warning', host: 'full' },
      annotations: { summary: 'Repository of host full uses more than 90 % of its quota' },
    },
  ],
  BorgHostCheckFailed: [
    {
      labels: { severity: 'critical', host: 'broken', outcome: 'failed' },
      annotations: { summary: 'Last repository check of host broken ended failed' },
    },
  ],
  BorgWebhookDeliveriesFailing: [
    {
      labels: { severity: 'warning' },
      annotations: { summary: '1 webhook or ping deliveries are failing and being retried' },
    },
  ],
};

/**
 * promtool's unit test file (JSON is YAML) for the example rules: every sample
 * of the scrape held for an hour at one-minute scrapes (the figures are the
 * state at one moment; the server computes them afresh at each scrape), and the
 * alerts expected after 30 minutes, past every rule's `for`.
 */
function promtoolTest(scrape: PrometheusScrape, alerts: Record<string, ExpectedAlert[]>): string {
  return JSON.stringify({
    rule_files: [RULES_FILE],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: scrape.samples.map((sample) => ({ series: sample.series, values: `${sample.value}x60` })),
        alert_rule_test: Object.entries(alerts).map(([alertname, expected]) => ({
          eval_time: '30m',
          alertname,
          exp_alerts: expected.map((alert) => ({ exp_labels: alert.labels, exp_annotations: alert.annotations })),
        })),
      },
    ],
  });
}

async function runPromtoolTest(scrape: PrometheusScrape, alerts: Record<string, ExpectedAlert[]>) {
  const directory = mkdtempSync(join(tmpdir(), 'sbs-promtool-'));
  try {
    const file = join(directory, 'borg-server-rules.test.yml');
    writeFileSync(file, promtoolTest(scrape, alerts));
    return await promtool(['test', 'rules', file]);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** The README's metrics table: name → type and label names, from its rows `| \`name\` | type | \`label\`, … | meaning |`. */
function readmeMetrics(): Map<string, { type: string; labels: string[] }> {
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const line of readFileSync(README, 'utf8').split('\n')) {
    const row = /^\| `(borg_server_[a-z_]+)` \| (\w+) \|([^|]*)\|/.exec(line);
    if (!row) continue;
    const [, name = '', type = '', labels = ''] = row;
    if (rows.has(name)) throw new Error(`the README lists ${name} twice`);
    rows.set(name, { type, labels: [...labels.matchAll(/`([a-z_]+)`/g)].map((match) => match[1] as string).sort() });
  }
  return rows;
}

describe('the example Prometheus alert rules', () => {
  it('pass promtool check rules', async () => {
    const result = await promtool(['check', 'rules', RULES_FILE]);
    expect(result.stdout + result.stderr).toContain(`SUCCESS: ${Object.keys(EXPECTED_ALERTS).length} rules found`);
    expect(result.exitCode).toBe(0);
  });

  it("fire for each host in the state they are about, and not for the healthy one, on the server's real /metrics", async () => {
    const { scrape } = await scrapeFleet();
    const result = await runPromtoolTest(scrape, EXPECTED_ALERTS);
    expect(result.stdout + result.stderr).toContain('SUCCESS');
    expect(result.exitCode).toBe(0);

    // The same run fails when it expects an alert for the healthy host: promtool compares the whole set.
    const withHealthy = {
      ...EXPECTED_ALERTS,
      BorgHostStale: [
        ...(EXPECTED_ALERTS.BorgHostStale ?? []),
        {
          labels: { severity: 'warning', host: 'healthy' },
          annotations: { summary: 'Host healthy has not backed up within its expected period' },
        },
      ],
    };
    const wrong = await runPromtoolTest(scrape, withHealthy);
    expect(wrong.stdout + wrong.stderr).toContain('FAILED');
    expect(wrong.exitCode).not.toBe(0);
  });
});

describe("the README's metrics table", () => {
  it('lists exactly the metrics /metrics serves, each with its type and labels', async () => {
    const { scrape } = await scrapeFleet();
    const served = new Map<string, { type: string; labels: string[] }>();
    for (const [name, type] of scrape.types) {
      const labels = new Set(scrape.samples.filter((sample) => sample.name === name).flatMap((sample) => Object.keys(sample.labels)));
      // Every metric has a sample for this fleet, so its labels are known.
      expect(
        scrape.samples.some((sample) => sample.name === name),
        name,
      ).toBe(true);
      served.set(name, { type, labels: [...labels].sort() });
    }
    expect(Object.fromEntries(readmeMetrics())).toEqual(Object.fromEntries(served));
  });
});
