// Provisioning many hosts: one reconcile pass (all accounts written whole, no
// process per host) against the ancestor's way, one `useradd` per user, side by
// side on the same machine. Run: npm run build && bench/in-namespace.sh node bench/reconcile.mjs [HOSTS]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { openMemoryRootDatabase } from '../dist/db/connection.js';
import { hosts } from '../dist/db/schema.js';
import { createReconcileMemory, reconcile } from '../dist/root/reconcile/reconcile.js';
import { benchHostRow } from './lib/host-rows.mjs';

if (process.env.SBS_IN_NAMESPACE !== '1') {
  console.error('run me through bench/in-namespace.sh: I create users');
  process.exit(2);
}
const hostCount = Number(process.argv[2] ?? 1000);

function seed(db, count, prefix) {
  const rows = Array.from({ length: count }, (_, index) => benchHostRow(`${prefix}${index}`, 20000 + index));
  for (let start = 0; start < rows.length; start += 500)
    db.insert(hosts)
      .values(rows.slice(start, start + 500))
      .run();
}

function timeMs(work) {
  const startedAt = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - startedAt) / 1e6;
}

const settings = { stateDir: '/srv/state', backupDir: '/srv/backups', sshPort: 22 };
mkdirSync('/srv/state', { recursive: true, mode: 0o711 });

// Side by side: the same number of users both ways.
const db = openMemoryRootDatabase();
seed(db, hostCount, 'h');
const memory = createReconcileMemory();
const reconcileMs = timeMs(() => reconcile(db, settings, memory));
// What the running server does after one approval: the pass remembers what it applied.
db.insert(hosts)
  .values({ ...benchHostRow('extra', 20000 + hostCount) })
  .run();
const afterOneChangeMs = timeMs(() => reconcile(db, settings, memory));
const fullCheckMs = timeMs(() => reconcile(db, settings));
const useraddMs = timeMs(() => {
  for (let index = 0; index < hostCount; index += 1) {
    execFileSync('/usr/sbin/useradd', ['--no-create-home', '--home-dir', `/srv/old/u${index}`, '--shell', '/bin/sh', `u${index}`]);
  }
});

console.log(`hosts: ${hostCount}`);
console.log(`one useradd per user (ancestor): ${useraddMs.toFixed(0)} ms (${(useraddMs / hostCount).toFixed(2)} ms a user)`);
console.log(`reconcile, first pass:           ${reconcileMs.toFixed(0)} ms (${(reconcileMs / hostCount).toFixed(3)} ms a host)`);
console.log(`reconcile after one new host:    ${afterOneChangeMs.toFixed(0)} ms (what an approval costs)`);
console.log(`reconcile, full check of disk:   ${fullCheckMs.toFixed(0)} ms (at start and on SIGHUP)`);
console.log(`ratio useradd / reconcile: ${(useraddMs / reconcileMs).toFixed(1)}x`);
