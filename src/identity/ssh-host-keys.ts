import { existsSync, readFileSync } from 'node:fs';
import { parseSshPublicKey } from '../domain/ssh-public-key.js';

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

/** The host keys sshd serves, from their public halves: what the API and `borgctl server` publish (root generates them: src/root/sshd/host-key-generation.ts). */
export function readSshHostKeys(sshDir: string): SshHostKey[] {
  return HOST_KEY_TYPES.flatMap((type) => {
    const path = `${hostKeyPath(sshDir, type.name)}.pub`;
    if (!existsSync(path)) return [];
    const key = parseSshPublicKey(readFileSync(path, 'utf8'));
    return [{ type: key.type, key: key.base64, fingerprint: key.fingerprint }];
  });
}
