import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  REPOSITORY_ROOT,
  registeredNamespaces,
  SANDBOX_REGISTRY_VARIABLE,
  sshdProcessesInSandboxes,
  sshdProcessIds,
} from '../support/sandbox.js';
import { SYSTEM_PATH } from '../support/system-path.js';

/**
 * Once per run of the system tests: check that this machine can run them,
 * compile the CLI they start, and afterwards check that no sshd outlived them.
 */

const REQUIRED_COMMANDS = ['unshare', 'nsenter', 'setpriv', 'mount', 'useradd', 'sshd', 'ssh', 'ssh-keygen', 'borg', 'curl', 'ssh-audit'];

export default async function setup(): Promise<() => Promise<void>> {
  if (process.getuid?.() !== 0) throw new Error('the system tests run as root (they make a mount namespace and users)');
  const missing: string[] = [];
  for (const command of REQUIRED_COMMANDS) {
    const found = await execa('sh', ['-c', 'command -v "$1"', 'sh', command], { env: { PATH: SYSTEM_PATH }, reject: false });
    if (found.exitCode !== 0) missing.push(command);
  }
  if (missing.length > 0) {
    throw new Error(`the system tests need ${missing.join(', ')} (apt-get install -y openssh-server borgbackup curl ssh-audit)`);
  }

  // The tests start bin/borgctl, which runs dist/: compile the current sources.
  const build = await execa('npm', ['run', 'build'], { cwd: REPOSITORY_ROOT, reject: false, all: true });
  if (build.exitCode !== 0) {
    console.warn(`system tests: \`npm run build\` failed; testing whatever dist/ holds:\n${build.all}`);
  }

  // Test workers inherit this variable: every sandbox registers its namespace there.
  const registryDir = await mkdtemp(join(tmpdir(), 'borg-sandbox-registry-'));
  process.env[SANDBOX_REGISTRY_VARIABLE] = registryDir;
  const sshdBefore = new Set(
    String((await execa('pgrep', ['-x', 'sshd'], { reject: false })).stdout)
      .split('\n')
      .filter(Boolean)
      .map(Number),
  );

  return async function checkThatNoSshdOutlivedTheTests() {
    const leaked = await sshdProcessesInSandboxes(await registeredNamespaces(registryDir));
    await rm(registryDir, { recursive: true, force: true });
    if (leaked.length > 0) {
      // vitest reports an error thrown here but keeps its exit status: set it, so that the run fails.
      process.exitCode = 1;
      throw new Error(
        `sshd processes of the system tests outlived them:\n${leaked.map((info) => `${info.pid} ${info.commandLine}`).join('\n')}`,
      );
    }
    // Others may run sshd on this machine at the same time (other sandboxes, containers): say so, do not fail.
    const others = await sshdProcessIds(sshdBefore);
    if (others.length > 0) console.warn(`system tests: sshd processes not started by these tests are running: ${others.join(' ')}`);
  };
}
