import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { syncDirectory } from '../../durable-files.js';
import { HOST_KEY_TYPES, hostKeyPath } from '../../identity/ssh-host-keys.js';
import type { Run } from '../../process/run.js';
import { writeFileAtomically } from '../files/atomic-file.js';

const SCRATCH_PREFIX = '.host-key-';

/**
 * Generates each missing host key once, into the state directory, so the
 * server keeps its identity when the container is re-created. A key is made
 * aside and put in place whole and on disk (fsynced, the directory too): a
 * crash or a power cut just after must not leave an empty key file, with which
 * sshd would never start again.
 */
export async function ensureSshHostKeys(sshDir: string, run: Run): Promise<void> {
  // What a start cut short left: never a key in use.
  for (const entry of readdirSync(sshDir))
    if (entry.startsWith(SCRATCH_PREFIX)) rmSync(`${sshDir}/${entry}`, { recursive: true, force: true });
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  for (const type of HOST_KEY_TYPES) {
    const path = hostKeyPath(sshDir, type.name);
    if (existsSync(path) && existsSync(`${path}.pub`)) continue;
    const scratch = mkdtempSync(`${sshDir}/${SCRATCH_PREFIX}`);
    try {
      const generated = `${scratch}/key`;
      await run('/usr/bin/ssh-keygen', ['-q', ...type.arguments, '-N', '', '-C', '', '-f', generated], { timeoutMs: 60_000 });
      // The public half first: once the private key is in place sshd serves it, and its public half must be there.
      writeFileAtomically(`${path}.pub`, readFileSync(`${generated}.pub`), { ...owner, mode: 0o644 });
      writeFileAtomically(path, readFileSync(generated), { ...owner, mode: 0o600 });
      syncDirectory(sshDir);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
}
