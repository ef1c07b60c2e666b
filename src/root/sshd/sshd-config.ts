import { DEFAULT_SSH_PER_SOURCE_MAX_STARTUPS } from '../../config.js';
import { SESSION_KEY_VARIABLE } from '../../domain/authorized-keys.js';
import { HOST_KEY_TYPES, hostKeyPath } from '../../identity/ssh-host-keys.js';
import { HOSTS_GROUP } from '../accounts/account-files.js';
import { ciphersFor, HOST_KEY_ALGORITHMS, kexAlgorithmsFor, MACS } from './ssh-algorithms.js';

export interface SshdSettings {
  port: number;
  /** Empty: every address. */
  listenAddresses: string[];
  sshDir: string;
  authorizedKeysDir: string;
  /** Unauthenticated connections at once from one address (IPv4 /32, IPv6 /64). */
  perSourceMaxStartups?: number;
  /** The key exchange algorithms the installed OpenSSH knows (`ssh -Q kex`); absent: only those every supported version has. */
  supportedKex?: ReadonlySet<string> | null;
  /** The CPU has AES instructions: AES-GCM first, else ChaCha20-Poly1305. */
  hasAesInstructions?: boolean;
  /** OpenSSH 9.8 added per-source penalties, and options this config must then set. */
  hasPerSourcePenalties: boolean;
}

/**
 * The hardened sshd configuration: public keys only, from files root owns,
 * for members of one group, with every kind of forwarding, TTYs, user rc
 * files and sftp off. The forced command in each key line does the rest.
 */
export function renderSshdConfig(settings: SshdSettings): string {
  return [
    '# Written by secure-borg-server at every start; edits are overwritten.',
    `Port ${settings.port}`,
    ...settings.listenAddresses.map((address) => `ListenAddress ${address}`),
    ...HOST_KEY_TYPES.map((type) => `HostKey ${hostKeyPath(settings.sshDir, type.name)}`),
    `HostKeyAlgorithms ${HOST_KEY_ALGORITHMS.join(',')}`,
    `KexAlgorithms ${kexAlgorithmsFor(settings.supportedKex ?? null).join(',')}`,
    `Ciphers ${ciphersFor(settings.hasAesInstructions ?? false).join(',')}`,
    `MACs ${MACS.join(',')}`,
    `AuthorizedKeysFile ${settings.authorizedKeysDir}/%u`,
    'AuthorizedPrincipalsFile none',
    `AllowGroups ${HOSTS_GROUP}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'GSSAPIAuthentication no',
    'PermitEmptyPasswords no',
    'PermitRootLogin no',
    'UsePAM no',
    'StrictModes yes',
    'DisableForwarding yes',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'AllowStreamLocalForwarding no',
    'X11Forwarding no',
    'PermitTunnel no',
    'GatewayPorts no',
    'PermitTTY no',
    'PermitUserRC no',
    // Only the marker of a maintainer's key line (environment=, in root's own key files): never the client's.
    `PermitUserEnvironment ${SESSION_KEY_VARIABLE}`,
    'PermitListen none',
    'PermitOpen none',
    'PrintMotd no',
    'PrintLastLog no',
    'Banner none',
    'Compression no',
    'LogLevel VERBOSE',
    'ClientAliveInterval 10',
    'ClientAliveCountMax 30',
    'LoginGraceTime 30',
    'MaxAuthTries 3',
    'MaxSessions 1',
    // Many hosts back up at the same minute: allow many unauthenticated connections before dropping.
    'MaxStartups 200:30:1000',
    // …but not all of them from one address: one source cannot take every slot. IPv6 counts per /64,
    // the block one client usually holds. Behind a proxy or NAT that hides addresses, this limits them all together.
    `PerSourceMaxStartups ${settings.perSourceMaxStartups ?? DEFAULT_SSH_PER_SOURCE_MAX_STARTUPS}`,
    'PerSourceNetBlockSize 32:64',
    // The container's healthcheck connects from loopback without logging in: not an attack.
    ...(settings.hasPerSourcePenalties ? ['PerSourcePenaltyExemptList 127.0.0.1,::1'] : []),
    '',
  ].join('\n');
}
