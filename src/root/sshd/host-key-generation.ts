import { existsSync } from 'node:fs';
import { HOST_KEY_TYPES, hostKeyPath } from '../../identity/ssh-host-keys.js';
import type { Run } from '../../process/run.js';

/**
 * Generates each missing host key once, into the state directory, so the
 * server keeps its identity when the container is re-created.
 */
export async function ensureSshHostKeys(sshDir: string, run: Run): Promise<void> {
  for (const type of HOST_KEY_TYPES) {
    const path = hostKeyPath(sshDir, type.name);
    if (existsSync(path) && existsSync(`${path}.pub`)) continue;
    await run('/usr/bin/ssh-keygen', ['-q', ...type.arguments, '-N', '', '-C', '', '-f', path], {
      timeoutMs: 60_000,
    });
  }
}
