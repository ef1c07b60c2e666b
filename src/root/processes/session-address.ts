import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

/**
 * The client address of the SSH connection a host process belongs to:
 * sshd puts `SSH_CONNECTION=client-address client-port server-address
 * server-port` into the environment of the session's command (borg serve),
 * and root may read /proc/PID/environ of any process. The client cannot set
 * it (sshd accepts no environment from it); null when it is not there.
 */
export function clientAddressOf(pid: number, procDir = '/proc'): string | null {
  let environment: string;
  try {
    environment = readFileSync(`${procDir}/${pid}/environ`, 'latin1');
  } catch {
    return null;
  }
  for (const entry of environment.split('\0')) {
    if (!entry.startsWith('SSH_CONNECTION=')) continue;
    const address = entry.slice('SSH_CONNECTION='.length).split(' ')[0] ?? '';
    return ipaddr.isValid(address) ? ipaddr.process(address).toString() : null;
  }
  return null;
}
