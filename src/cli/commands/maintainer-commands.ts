import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  addMaintainer,
  grantMaintainer,
  type HostSelection,
  listMaintainers,
  type MaintainerView,
  removeMaintainer,
  revokeMaintainer,
  splitHostNames,
} from '../../api/maintainers/maintainers.js';
import { AppError } from '../../errors.js';
import { CLI_ACTOR, openCliContext } from '../cli-context.js';
import { printOutcome, printRows } from '../output.js';

const MAINTAINER_COLUMNS = ['name', 'fingerprint', 'allowFrom', 'allHosts', 'hosts'];

/** `borgctl maintainers`: trusted machines that prune and compact while every VM stays append-only. */
export function addMaintainerCommands(program: Command): void {
  const maintainers = program
    .command('maintainers')
    .description('trusted machines with full access (prune, compact) to granted hosts; every VM stays append-only');
  maintainers
    .command('add <name> <key>')
    .description('register a trusted machine\'s public key ("-" reads it from stdin); --from is required')
    .requiredOption('--from <cidrs>', 'the addresses or CIDR ranges the trusted machine connects from, comma-separated')
    .option('--json', 'print JSON')
    .action(async (name: string, key: string, options: { from: string; json?: boolean }) => {
      const context = await openCliContext();
      const publicKey = key === '-' ? readFileSync(0, 'utf8') : key;
      const maintainer = await addMaintainer(context, { name, publicKey, allowFrom: options.from }, CLI_ACTOR);
      printOutcome(
        options.json ?? false,
        maintainer,
        `maintainer ${maintainer.name} registered (${maintainer.fingerprint}), from ${maintainer.allowFrom}`,
      );
    });
  const grantCommands = [
    [
      'grant',
      "give it full access to these hosts' repositories (their own keys stay append-only)",
      'every host, those enrolled later too',
      grantMaintainer,
    ],
    ['revoke', 'take back its access to these hosts; its open sessions there end', 'its grant of every host', revokeMaintainer],
  ] as const;
  for (const [command, description, allDescription, change] of grantCommands) {
    maintainers
      .command(`${command} <name>`)
      .description(description)
      .option('--hosts <names>', 'host names, comma-separated')
      .option('--all', allDescription)
      .option('--json', 'print JSON')
      .action(async (name: string, options: { hosts?: string; all?: boolean; json?: boolean }) => {
        const context = await openCliContext();
        const maintainer = await change(context, name, selectionOf(options), CLI_ACTOR);
        printOutcome(options.json ?? false, maintainer, `maintainer ${name} may reach ${reachOf(maintainer)}`);
      });
  }
  maintainers
    .command('remove <name>')
    .description('forget the maintainer and all its grants; its open sessions end')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      await removeMaintainer(context, name, CLI_ACTOR);
      printOutcome(options.json ?? false, { name, status: 'removed' }, `maintainer ${name} removed`);
    });
  maintainers
    .command('list')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const context = await openCliContext();
      const rows = listMaintainers(context).map((maintainer) => ({
        ...maintainer,
        hosts: options.json ? maintainer.hosts : maintainer.hosts.join(','),
      }));
      printRows(rows as unknown as Record<string, unknown>[], MAINTAINER_COLUMNS, options.json ?? false);
    });
}

function selectionOf(options: { hosts?: string; all?: boolean }): HostSelection {
  const hosts = splitHostNames(options.hosts ?? '');
  if (hosts.length === 0 && !options.all) throw new AppError('BAD_REQUEST', 'name the hosts (--hosts h1,h2) or --all');
  return { hosts, all: options.all ?? false };
}

function reachOf(maintainer: MaintainerView): string {
  if (maintainer.allHosts) return 'every host';
  return maintainer.hosts.length === 0 ? 'no host' : maintainer.hosts.join(', ');
}
