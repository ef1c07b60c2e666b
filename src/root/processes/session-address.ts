import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { maintainerKeyComment, SESSION_KEY_VARIABLE } from '../../domain/authorized-keys.js';
import { isValidHostName } from '../../domain/host-name.js';

/** What a host process's environment says of the SSH connection it belongs to. */
export interface SessionIdentity {
  /** The client's address (SSH_CONNECTION), null when it is not there. */
  clientAddress: string | null;
  /** The maintainer whose key line started it (its environment=), null for the host's own key. */
  maintainer: string | null;
}

/**
 * The client address and the key of the SSH connection a host process
 * belongs to: sshd puts `SSH_CONNECTION=client-address client-port
 * server-address server-port` into the environment of the session's command
 * (borg serve), and a maintainer's key line sets BORG_SERVER_KEY there too;
 * root may read /proc/PID/environ of any process. The client can set neither
 * (sshd accepts no environment from it, and the key files are root's). Null
 * when the environment cannot be read.
 */
export function sessionIdentityOf(pid: number, procDir = '/proc'): SessionIdentity | null {
  let environment: string;
  try {
    environment = readFileSync(`${procDir}/${pid}/environ`, 'latin1');
  } catch {
    return null;
  }
  let clientAddress: string | null = null;
  let maintainer: string | null = null;
  const keyPrefix = `${SESSION_KEY_VARIABLE}=${maintainerKeyComment('')}`;
  for (const entry of environment.split('\0')) {
    if (entry.startsWith('SSH_CONNECTION=')) {
      const address = entry.slice('SSH_CONNECTION='.length).split(' ')[0] ?? '';
      clientAddress = ipaddr.isValid(address) ? ipaddr.process(address).toString() : null;
    } else if (entry.startsWith(keyPrefix)) {
      const name = entry.slice(keyPrefix.length);
      maintainer = isValidHostName(name) ? name : null;
    }
  }
  return { clientAddress, maintainer };
}
