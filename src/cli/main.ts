import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config.js';
import { asExpectedError } from '../errors.js';
import { createLogger } from '../log.js';
import { serve } from '../root/serve/serve.js';
import { openCliContext } from './cli-context.js';
import { addAdminTokenCommands, addEnrollmentCommands, addEnrollmentTokenCommands } from './commands/admin-commands.js';
import { healthcheck } from './commands/healthcheck.js';
import { addAncestorCommands, addHostCommands } from './commands/host-commands.js';
import { addMaintainerCommands } from './commands/maintainer-commands.js';
import { addStateCommands } from './commands/state-commands.js';
import { addWebhookCommands } from './commands/webhook-commands.js';
import { printJson } from './output.js';

const program = new Command('borgctl')
  .description('secure-borg-server: a BorgBackup server where hosts enroll themselves')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description("run the server: sshd and the enrollment API (the container's main process)")
  .action(async () => {
    const config = loadConfig();
    await serve(config, createLogger(config.logLevel, 'serve'));
    process.exit(0);
  });

program
  .command('healthcheck')
  .description('exit 0 when sshd and the API answer, the state directory is writable and root reports its loops live')
  .option('--json', 'print JSON: {"healthy": …, "problems": [...]}')
  .action(async (options: { json?: boolean }) => {
    // Unhealthy unless every check says otherwise, even one that never settles.
    process.exitCode = 1;
    const problems = await healthcheck(loadConfig());
    if (options.json) printJson({ healthy: problems.length === 0, problems });
    else for (const problem of problems) process.stderr.write(`unhealthy: ${problem}\n`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  });

program
  .command('server')
  .description("this server's identity: the TLS pin and the SSH host key fingerprints, to check or hand out")
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    const context = await openCliContext();
    const identity = {
      publicUrl: context.config.publicUrl,
      tlsPin: context.tlsIdentity()?.pin ?? null,
      ssh: `${context.config.sshHost}:${context.config.sshPublicPort}`,
      sshHostKeys: context.readSshHostKeys(),
    };
    if (options.json) {
      printJson(identity);
      return;
    }
    process.stdout.write(
      `public URL  ${identity.publicUrl}\nTLS pin     ${identity.tlsPin ?? '(plain HTTP)'}\nSSH         ${identity.ssh}\n`,
    );
    for (const key of identity.sshHostKeys) process.stdout.write(`host key    ${key.fingerprint} (${key.type})\n`);
  });

addAdminTokenCommands(program);
addEnrollmentTokenCommands(program);
addEnrollmentCommands(program);
addHostCommands(program);
addMaintainerCommands(program);
addWebhookCommands(program);
addAncestorCommands(program);
addStateCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const expected = asExpectedError(error);
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (expected) {
    process.stderr.write(`borgctl: ${expected.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`borgctl: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
