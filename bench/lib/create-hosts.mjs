// Creates many hosts through the product's own path (what `borgctl createuser
// NAME KEY` does: the API's createOrRekeyHost, root asked over its control
// socket), in one process rather than one node start per host.
//   node bench/lib/create-hosts.mjs < lines of "NAME PUBLIC-KEY"
// Runs as root against a running server (the same BORG_SERVER_* environment); it
// becomes the API user, as the CLI does. Prints how many it made on stderr.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOrRekeyHost, updateHost } from '../../dist/api/hosts/hosts.js';
import { CLI_ACTOR, openCliContext } from '../../dist/cli/cli-context.js';

/**
 * Root answers RATE_LIMITED past 50 requests a second on one connection (its channel's token bucket); a change
 * of one host now takes a few milliseconds, so this loop can ask faster than that: wait and ask again.
 */
async function withinRateLimit(request) {
  for (;;) {
    try {
      return await request();
    } catch (error) {
      if (error?.code !== 'RATE_LIMITED') throw error;
      await sleep(100);
    }
  }
}

const lines = readFileSync(0, 'utf8').split('\n').filter(Boolean);
const context = await openCliContext();
const startedAt = Date.now();
for (const line of lines) {
  const space = line.indexOf(' ');
  const name = line.slice(0, space);
  await withinRateLimit(() => createOrRekeyHost(context, name, line.slice(space + 1), CLI_ACTOR));
  // No scheduled integrity checks: a check is borg run by the supervisor, and its CPU would be counted as the
  // watchers' (a host's first check is due once its VM has run borg init, as the benchmarks' hosts do).
  await withinRateLimit(() => updateHost(context, name, { checkEvery: null }, CLI_ACTOR));
}
process.stderr.write(`created ${lines.length} hosts in ${Date.now() - startedAt} ms\n`);
process.exit(0);
