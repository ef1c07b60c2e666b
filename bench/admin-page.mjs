// The admin page with many hosts: a page of the host list, a search, the
// overview and one host's page, each against the JSON API's host list
// (GET /v1/admin/hosts, its first page of 100 hosts with their figures) on the same database,
// as ratios. In-process, nothing is written outside memory.
// Run: npm run build && node bench/admin-page.mjs [HOSTS]
import { createAdminToken } from '../dist/api/admin/admin-tokens.js';
import { createApp } from '../dist/api/app.js';
import { createRateLimiter } from '../dist/api/middleware/rate-limit.js';
import { loadConfig } from '../dist/config.js';
import { openMemoryDatabase } from '../dist/db/connection.js';
import { hostBackupState, hosts } from '../dist/db/schema.js';
import { benchBackupStateRow, benchHostRow } from './lib/host-rows.mjs';

const hostCount = Number(process.argv[2] ?? 10_000);
const now = new Date();
const db = openMemoryDatabase();
const names = Array.from({ length: hostCount }, (_, index) => `vm${String(index).padStart(6, '0')}`);
for (let start = 0; start < names.length; start += 500) {
  const batch = names.slice(start, start + 500);
  db.insert(hosts)
    .values(batch.map((name, offset) => benchHostRow(name, 20_000 + start + offset, { quotaBytes: 50e9, createdAt: now, updatedAt: now })))
    .run();
  // Every third host backed up a day and a half ago: stale, so the overview has work to do.
  db.insert(hostBackupState)
    .values(batch.map((name, offset) => benchBackupStateRow(name, start + offset, now)))
    .run();
}

const unlimited = () => createRateLimiter({ limit: 1e9, windowMs: 60_000 });
const context = {
  db,
  config: loadConfig({ BORG_SERVER_PUBLIC_URL: 'http://127.0.0.1:8080' }),
  now: () => new Date(),
  signingKey: undefined,
  // Pages only read: no change of a host is asked of root here.
  changeHost: async () => {
    throw new Error('the bench changes no host');
  },
  readSshHostKeys: () => [],
  tlsIdentity: () => null,
};
const app = createApp({ context, limits: { adminFailures: unlimited(), enrollAttempts: unlimited(), lookups: unlimited() } });
const { token } = createAdminToken(db, { label: 'bench', role: 'admin', expiresAt: null }, now, 'bench');
const login = await app.request('/ui/login', {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:8080' },
  body: new URLSearchParams({ token }).toString(),
});
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];

async function medianMs(path, headers, runs = 7) {
  const times = [];
  for (let run = 0; run < runs; run += 1) {
    const startedAt = process.hrtime.bigint();
    const response = await app.request(path, { headers });
    await response.text();
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
    times.push(Number(process.hrtime.bigint() - startedAt) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

const baseline = await medianMs('/v1/admin/hosts', { authorization: `Bearer ${token}` });
console.log(`${hostCount} hosts; baseline GET /v1/admin/hosts (a page of 100 hosts, JSON): ${baseline.toFixed(1)} ms`);
for (const path of ['/ui/hosts', '/ui/hosts?page=100', '/ui/hosts?q=vm0042', '/ui/hosts?show=stale', '/ui', `/ui/hosts/${names.at(-1)}`]) {
  const ms = await medianMs(path, { cookie });
  console.log(`${path.padEnd(28)} ${ms.toFixed(1).padStart(8)} ms  ${(ms / baseline).toFixed(2)}× the API's list`);
}
