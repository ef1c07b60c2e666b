// One changed host at N hosts: the pass for that host (reconcile-host.ts, what an approval runs) against the
// full pass after the same change, in-process, interleaved. Run: npm run build && bench/in-namespace.sh node bench/one-host.mjs [HOSTS] [ROUNDS]
import { mkdirSync } from 'node:fs';
import { openMemoryRootDatabase } from '../dist/db/connection.js';
import { hosts } from '../dist/db/schema.js';
import { createReconcileMemory, reconcile } from '../dist/root/reconcile/reconcile.js';
import { reconcileHost } from '../dist/root/reconcile/reconcile-host.js';
import { benchHostRow } from './lib/host-rows.mjs';

if (process.env.SBS_IN_NAMESPACE !== '1') {
  console.error('run me through bench/in-namespace.sh: I write /etc/passwd');
  process.exit(2);
}
const hostCount = Number(process.argv[2] ?? 10000);
const rounds = Number(process.argv[3] ?? 9);
const settings = { stateDir: '/srv/state', backupDir: '/srv/backups', sshPort: 22 };
mkdirSync('/srv/state', { recursive: true, mode: 0o711 });

const db = openMemoryRootDatabase();
const rows = Array.from({ length: hostCount }, (_, index) => benchHostRow(`h${index}`, 20000 + index));
for (let start = 0; start < rows.length; start += 500)
  db.insert(hosts)
    .values(rows.slice(start, start + 500))
    .run();
const memory = createReconcileMemory();
reconcile(db, settings, memory);

const timed = (work) => {
  const wallAt = process.hrtime.bigint();
  const cpuAt = process.cpuUsage();
  const result = work();
  const cpu = process.cpuUsage(cpuAt);
  return { ms: Number(process.hrtime.bigint() - wallAt) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, result };
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const full = [];
const one = [];
for (let round = 0; round < rounds; round += 1) {
  // Interleaved: a new host through a full pass, then another through the pass for one host.
  db.insert(hosts)
    .values(benchHostRow(`full${round}`, 20000 + hostCount + 2 * round))
    .run();
  full.push(timed(() => reconcile(db, settings, memory)));
  db.insert(hosts)
    .values(benchHostRow(`one${round}`, 20000 + hostCount + 2 * round + 1))
    .run();
  const pass = timed(() => reconcileHost(db, settings, memory, `one${round}`));
  if (!pass.result.isDone) throw new Error(`the pass for one host was not done: ${pass.result.reason}`);
  one.push(pass);
}
const line = (label, passes) =>
  `${label}: median ${median(passes.map((pass) => pass.ms)).toFixed(1)} ms wall, ${median(passes.map((pass) => pass.cpuMs)).toFixed(1)} ms CPU (wall ${passes.map((pass) => pass.ms.toFixed(1)).join(', ')})`;
console.log(`hosts: ${hostCount}, ${rounds} rounds`);
console.log(line('full pass after one new host   ', full));
console.log(line('pass for the one new host only ', one));
