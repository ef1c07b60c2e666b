import { existsSync, readFileSync } from 'node:fs';
import { parseSshPublicKey } from '../domain/ssh-public-key.js';
import type { Run } from '../process/run.js';

export interface SshHostKey {
  type: string;
  key: string;
  fingerprint: string;
}

/**
 * The host key types sshd gets, in the order clients are offered them. No
 * ECDSA (NIST P-256, which external audits fail): a state volume made before
 * keeps its ssh_host_ecdsa_key, which is neither offered nor published. RSA
 * stays at 3072 bits, which ssh-audit passes, so that existing servers keep
 * their identity.
 */
export const HOST_KEY_TYPES = [
  { name: 'ed25519', arguments: ['-t', 'ed25519'] },
  { name: 'rsa', arguments: ['-t', 'rsa', '-b', '3072'] },
] as const;

export function hostKeyPath(sshDir: string, name: string): string {
  return `${sshDir}/ssh_host_${name}_key`;
}

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

export function readSshHostKeys(sshDir: string): SshHostKey[] {
  return HOST_KEY_TYPES.flatMap((type) => {
    const path = `${hostKeyPath(sshDir, type.name)}.pub`;
    if (!existsSync(path)) return [];
    const key = parseSshPublicKey(readFileSync(path, 'utf8'));
    return [{ type: key.type, key: key.base64, fingerprint: key.fingerprint }];
  });
}
