import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { type Config, loadConfig, statePaths } from '../../config.js';
import { AppError } from '../../errors.js';
import { run } from '../../process/run.js';
import { findAccount } from '../../root/accounts/account-files.js';
import { writeFileAtomically } from '../../root/files/atomic-file.js';
import { restoreServerState } from '../../root/state-backup/restore-server-state.js';
import { makeServerStateCopy } from '../../root/state-backup/server-state-copy.js';
import { readServerVersion } from '../../state-archive/server-version.js';
import { openControlChannel } from '../control-socket.js';
import { printOutcome } from '../output.js';

/** Root's side: both commands need root (root's database, the host keys) and the API user (its part). */
function rootAndApiAccount(config: Config): { uid: number; gid: number } {
  if (process.geteuid?.() !== 0) throw new AppError('CONFIG_INVALID', "this command reads and writes the server's state: run it as root");
  const account = findAccount(readFileSync('/etc/passwd', 'utf8'), config.apiUser);
  if (!account) throw new AppError('CONFIG_INVALID', `the API user "${config.apiUser}" does not exist`);
  return account;
}

async function readArchive(file: string): Promise<Buffer> {
  if (file !== '-') return readFileSync(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `borgctl state backup FILE|-` and `borgctl state restore FILE|-`: the server's own state, copied and put back. */
export function addStateCommands(program: Command): void {
  const state = program
    .command('state')
    .description("copy the server's own state (databases, signing, SSH host and TLS keys) and restore it");
  state
    .command('backup <file>')
    .description('write a consistent copy of the state, also while the server runs, to FILE (0600, written whole) or "-" (standard output)')
    .option('--json', 'print JSON: the file and its size (not with "-", where the copy itself is the output)')
    .action(async (file: string, options: { json?: boolean }) => {
      if (options.json && file === '-')
        throw new AppError('BAD_REQUEST', '--json needs a FILE: with "-" the copy itself goes to standard output');
      const config = loadConfig();
      const apiAccount = rootAndApiAccount(config);
      const archive = await makeServerStateCopy({
        stateDir: config.stateDir,
        apiAccount,
        serverVersion: readServerVersion(),
        now: new Date(),
        run,
      });
      if (file === '-') {
        await new Promise<void>((done, fail) => process.stdout.write(archive, (error) => (error ? fail(error) : done())));
        return;
      }
      writeFileAtomically(resolve(file), archive, { uid: 0, gid: 0, mode: 0o600 });
      printOutcome(
        options.json ?? false,
        { file: resolve(file), bytes: archive.length },
        `wrote the server state to ${file} (${archive.length} bytes); keep it off this machine, it holds private keys`,
      );
    });
  state
    .command('restore <file>')
    .description('put a copy back into an empty state volume, with no server running ("-" reads standard input); then start the server')
    .option('--json', 'print JSON: what was restored')
    .action(async (file: string, options: { json?: boolean }) => {
      const config = loadConfig();
      const apiAccount = rootAndApiAccount(config);
      const server = await openControlChannel(statePaths(config.stateDir).controlSocket, { keepsProcessAlive: false });
      if (server) {
        server.close();
        throw new AppError('STATE_IN_USE', `a server is running on ${config.stateDir}: stop it, and restore into an empty state volume`);
      }
      const manifest = await restoreServerState({ archive: await readArchive(file), stateDir: config.stateDir, apiAccount, run });
      const restored = {
        stateDir: config.stateDir,
        createdAt: manifest.createdAt,
        serverVersion: manifest.serverVersion,
        files: manifest.files.length,
      };
      printOutcome(
        options.json ?? false,
        restored,
        `restored the server state of ${manifest.createdAt} (server ${manifest.serverVersion}, ${manifest.files.length} files) into ${config.stateDir}; ` +
          'start the server (borgctl serve): it makes every host account again with its UID',
      );
    });
}
