import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { parseDurationSeconds } from './domain/durations.js';
import { parseAllowFrom } from './domain/networks.js';
import { AppError } from './errors.js';

/** The only module that reads process.env. */

/** Unauthenticated SSH connections at once from one address, unless BORG_SERVER_SSH_PER_SOURCE_MAX_STARTUPS says otherwise. */
export const DEFAULT_SSH_PER_SOURCE_MAX_STARTUPS = 10;
/**
 * `borgctl healthcheck` fails when root has not reported, or one of root's loops has not
 * completed a pass, for longer than this (BORG_SERVER_ROOT_STALL_SECONDS changes it).
 */
export const DEFAULT_ROOT_STALL_SECONDS = 60;
/**
 * Root's own copies of the server state (BACKUP/.server-state/, root-only): one a day by default
 * (BORG_SERVER_STATE_BACKUP_INTERVAL, a duration such as "12h", or "off"), the newest 7 kept
 * (BORG_SERVER_STATE_BACKUP_KEEP). An admin copies them off the machine: they are what a restore needs.
 */
export const DEFAULT_STATE_BACKUP_INTERVAL = '1d';
export const DEFAULT_STATE_BACKUP_KEEP = 7;
/** Node's timers hold at most 2^31-1 ms (24.8 days): a longer interval would fire at once. */
const MAX_STATE_BACKUP_INTERVAL_SECONDS = 24 * 86_400;
/** Root writes its liveness every few seconds: a shorter bound would call a healthy root stalled. */
const MIN_ROOT_STALL_SECONDS = 5;

const port = z.coerce.number().int().min(1).max(65535);

const environmentSchema = z
  .object({
    BORG_SERVER_STATE_DIR: z.string().startsWith('/').default('/var/lib/secure-borg-server'),
    BORG_SERVER_BACKUP_DIR: z.string().startsWith('/').default('/backups'),
    BORG_SERVER_SSH_PORT: port.default(22),
    BORG_SERVER_SSH_LISTEN_ADDRESS: z.string().min(1).optional(),
    BORG_SERVER_SSH_PER_SOURCE_MAX_STARTUPS: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_SSH_PER_SOURCE_MAX_STARTUPS),
    BORG_SERVER_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
    BORG_SERVER_HTTP_PORT: port.default(8080),
    BORG_SERVER_PUBLIC_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:8080'),
    BORG_SERVER_SSH_HOST: z.string().min(1).optional(),
    BORG_SERVER_SSH_PUBLIC_PORT: port.optional(),
    BORG_SERVER_API_USER: z.string().min(1).default('borg-api'),
    BORG_SERVER_IMPORT_USERS_DIR: z.string().startsWith('/').optional(),
    BORG_SERVER_TLS_CERT: z.string().startsWith('/').optional(),
    BORG_SERVER_TLS_KEY: z.string().startsWith('/').optional(),
    BORG_SERVER_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    BORG_SERVER_ROOT_STALL_SECONDS: z.coerce.number().int().min(MIN_ROOT_STALL_SECONDS).max(86_400).default(DEFAULT_ROOT_STALL_SECONDS),
    BORG_SERVER_STATE_BACKUP_INTERVAL: z.string().default(DEFAULT_STATE_BACKUP_INTERVAL),
    BORG_SERVER_STATE_BACKUP_KEEP: z.coerce.number().int().min(1).max(1000).default(DEFAULT_STATE_BACKUP_KEEP),
    BORG_SERVER_OUTGOING_ALLOW: z.string().optional(),
  })
  .loose();

export interface Config {
  stateDir: string;
  backupDir: string;
  sshPort: number;
  /** Addresses sshd listens on; empty for all. */
  sshListenAddresses: string[];
  /** Unauthenticated SSH connections sshd accepts at once from one address (IPv6: one /64). */
  sshPerSourceMaxStartups: number;
  httpHost: string;
  httpPort: number;
  /** Base URL the enrolling VMs reach the API at, without a trailing slash. */
  publicUrl: string;
  /** Host name and port written into repository URLs. */
  sshHost: string;
  sshPublicPort: number;
  apiUser: string;
  importUsersDir: string | undefined;
  /** The API serves HTTPS itself when the public URL is https://. */
  isHttps: boolean;
  /** A certificate and key to serve (e.g. from an ACME client); otherwise a self-signed pair is generated. */
  tlsCertificatePath: string | undefined;
  tlsKeyPath: string | undefined;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The healthcheck's bound on root's silence and on a loop without a completed pass. */
  rootStallSeconds: number;
  /** How often root copies the server state into the backup volume; null: never. */
  stateBackupIntervalSeconds: number | null;
  /** How many of those copies are kept (the newest). */
  stateBackupKeep: number;
  /**
   * Ranges that webhooks and ping URLs may reach besides public addresses (a canonical
   * comma-separated CIDR list, e.g. "192.168.10.0/24"), for receivers on the admin's own
   * network; null: public addresses only.
   */
  outgoingAllow: string | null;
}

export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new AppError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`);
  }
  const values = parsed.data;
  const publicUrl = values.BORG_SERVER_PUBLIC_URL.replace(/\/+$/, '');
  if ((values.BORG_SERVER_TLS_CERT === undefined) !== (values.BORG_SERVER_TLS_KEY === undefined)) {
    throw new AppError('CONFIG_INVALID', 'invalid configuration: set both BORG_SERVER_TLS_CERT and BORG_SERVER_TLS_KEY, or neither');
  }
  if (values.BORG_SERVER_TLS_CERT && !publicUrl.startsWith('https://')) {
    throw new AppError('CONFIG_INVALID', 'invalid configuration: BORG_SERVER_TLS_CERT is set but BORG_SERVER_PUBLIC_URL is not https://');
  }
  return {
    stateDir: values.BORG_SERVER_STATE_DIR,
    backupDir: values.BORG_SERVER_BACKUP_DIR,
    sshPort: values.BORG_SERVER_SSH_PORT,
    sshListenAddresses: parseListenAddresses(values.BORG_SERVER_SSH_LISTEN_ADDRESS),
    sshPerSourceMaxStartups: values.BORG_SERVER_SSH_PER_SOURCE_MAX_STARTUPS,
    httpHost: values.BORG_SERVER_HTTP_HOST,
    httpPort: values.BORG_SERVER_HTTP_PORT,
    publicUrl,
    // URL.hostname keeps an IPv6 address's brackets; repository URLs add their own.
    sshHost: values.BORG_SERVER_SSH_HOST ?? new URL(publicUrl).hostname.replace(/^\[(.*)\]$/, '$1'),
    sshPublicPort: values.BORG_SERVER_SSH_PUBLIC_PORT ?? values.BORG_SERVER_SSH_PORT,
    apiUser: values.BORG_SERVER_API_USER,
    importUsersDir: values.BORG_SERVER_IMPORT_USERS_DIR,
    isHttps: publicUrl.startsWith('https://'),
    tlsCertificatePath: values.BORG_SERVER_TLS_CERT,
    tlsKeyPath: values.BORG_SERVER_TLS_KEY,
    logLevel: values.BORG_SERVER_LOG_LEVEL,
    rootStallSeconds: values.BORG_SERVER_ROOT_STALL_SECONDS,
    stateBackupIntervalSeconds: parseStateBackupInterval(values.BORG_SERVER_STATE_BACKUP_INTERVAL),
    stateBackupKeep: values.BORG_SERVER_STATE_BACKUP_KEEP,
    outgoingAllow: parseOutgoingAllow(values.BORG_SERVER_OUTGOING_ALLOW),
  };
}

function parseOutgoingAllow(value: string | undefined): string | null {
  if (value === undefined || value.trim() === '') return null;
  try {
    return parseAllowFrom(value);
  } catch (error) {
    const reason = error instanceof AppError ? error.message : 'not a CIDR list';
    throw new AppError('CONFIG_INVALID', `invalid configuration: BORG_SERVER_OUTGOING_ALLOW: ${reason}`);
  }
}

function parseStateBackupInterval(value: string): number | null {
  if (value.trim() === 'off') return null;
  let seconds: number;
  try {
    seconds = parseDurationSeconds(value);
  } catch {
    seconds = Number.NaN;
  }
  if (!(seconds <= MAX_STATE_BACKUP_INTERVAL_SECONDS)) {
    throw new AppError(
      'CONFIG_INVALID',
      `invalid configuration: BORG_SERVER_STATE_BACKUP_INTERVAL: "${value}" is not "off" or a duration such as "12h" or "1d" (at most 24d)`,
    );
  }
  return seconds;
}

function parseListenAddresses(value: string | undefined): string[] {
  if (value === undefined) return [];
  const addresses = value.split(',').map((address) => address.trim());
  for (const address of addresses) {
    if (!ipaddr.isValid(address)) {
      throw new AppError('CONFIG_INVALID', `invalid configuration: BORG_SERVER_SSH_LISTEN_ADDRESS: "${address}" is not an IP address`);
    }
  }
  return addresses;
}

/** Paths inside the state directory, in one place. */
export function statePaths(stateDir: string) {
  return {
    /** Root's own state (root-only): what it acts on. The API user can neither read nor write it. */
    rootDir: `${stateDir}/root`,
    rootDatabase: `${stateDir}/root/root.db`,
    /** The API's own state (the API user's). Root never opens a file in it. */
    databaseDir: `${stateDir}/db`,
    database: `${stateDir}/db/borg.db`,
    signingKeyDir: `${stateDir}/db/signing`,
    sshDir: `${stateDir}/ssh`,
    sshdConfig: `${stateDir}/ssh/sshd_config`,
    authorizedKeysDir: `${stateDir}/ssh/authorized_keys`,
    /** Root's run-time files (root-owned, 0711): its sockets, the CLI's in a root-only directory, the API's in one of the API user's group. */
    runDir: `${stateDir}/run`,
    controlSocketDir: `${stateDir}/run/cli`,
    controlSocket: `${stateDir}/run/cli/control.sock`,
    apiSocketDir: `${stateDir}/run/api`,
    apiSocket: `${stateDir}/run/api/api.sock`,
    /** When root's loops last completed a pass, for the healthcheck (root only). */
    livenessFile: `${stateDir}/run/liveness.json`,
    /** One file per child serve runs (sshd, the API): a serve killed with -9 leaves them, and the next one ends those children. */
    childrenDir: `${stateDir}/run/children`,
    /** Root's (root:API group, 0750): the API reads the pair it serves, and cannot replace it. */
    tlsDir: `${stateDir}/tls`,
    tlsCertificate: `${stateDir}/tls/certificate.pem`,
    tlsKey: `${stateDir}/tls/key.pem`,
    /** Where versions before root's own state kept the pair (the API user's directory): read once at the upgrade. */
    legacyTlsDir: `${stateDir}/db/tls`,
  };
}
