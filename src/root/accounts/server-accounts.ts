import { statSync } from 'node:fs';
import { isValidHostName } from '../../domain/host-name.js';
import { isHostAccountUid } from '../../domain/host-uid.js';
import type { Logger } from '../../log.js';
import { readTextIfExists } from '../files/atomic-file.js';
import { HOST_ACCOUNT_MARKER } from './account-files.js';

/**
 * Which accounts are this server's: the host accounts reconcile wrote into
 * /etc/passwd, a file only root writes. A host row, whoever wrote it (the
 * unprivileged API's database, root's own state, an import), is only a
 * claim; before root signals a process, looks in /proc for a UID's sessions,
 * removes a host's files or runs anything as a host, the UID must be one of
 * these accounts. A UID in the host range that is not (an admin's own login
 * on a bare host, another program's account) is left alone.
 *
 * An entry counts only as account-files.ts renders it:
 * `NAME:x:UID:UID:secure-borg-server host:BACKUP_DIR/NAME:/bin/sh`, with a
 * host name, a UID in the host range, the host's own group as its primary
 * group, and no other passwd entry with the same UID or name.
 */

export interface ServerAccount {
  name: string;
  uid: number;
  home: string;
}

declare const SERVER_UIDS: unique symbol;

/**
 * UIDs of accounts this server made. Only this module makes a set of them
 * (serverUidsAmong), and sessions.ts takes no other: a UID cannot reach a
 * signal or a /proc scan without having been checked here.
 */
export type ServerUids = ReadonlySet<number> & { readonly [SERVER_UIDS]: true };

const SHELL = '/bin/sh';
/** Rows are anyone's to write: what was logged is forgotten past this many, so it stays bounded. */
const MAX_REMEMBERED_LOGS = 10_000;

/** The host accounts reconcile wrote, by UID, from the text of /etc/passwd. */
export function parseServerAccounts(passwd: string, backupDir: string): Map<number, ServerAccount> {
  const entries = passwd
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split(':'));
  const countOf = (values: string[]) =>
    values.reduce((counts, value) => counts.set(value, (counts.get(value) ?? 0) + 1), new Map<string, number>());
  const uidCounts = countOf(entries.map((fields) => fields[2] ?? ''));
  const nameCounts = countOf(entries.map((fields) => fields[0] ?? ''));
  const accounts = new Map<number, ServerAccount>();
  for (const fields of entries) {
    const [name = '', password, uidField = '', gidField, marker, home, shell] = fields;
    const uid = /^\d{1,10}$/.test(uidField) ? Number(uidField) : Number.NaN;
    const isAsRendered =
      fields.length === 7 &&
      password === 'x' &&
      marker === HOST_ACCOUNT_MARKER &&
      gidField === uidField &&
      shell === SHELL &&
      isValidHostName(name) &&
      isHostAccountUid(uid) &&
      home === `${backupDir}/${name}`;
    // A UID or name that another entry shares is someone else's too: never ours to signal.
    if (isAsRendered && uidCounts.get(uidField) === 1 && nameCounts.get(name) === 1) accounts.set(uid, { name, uid, home });
  }
  return accounts;
}

/** The UIDs among `uids` that are accounts in `accounts`. */
export function serverUidsAmong(accounts: ReadonlyMap<number, ServerAccount>, uids: Iterable<number>): ServerUids {
  return new Set([...uids].filter((uid) => accounts.has(uid))) as unknown as ServerUids;
}

/** The account of a host, if the server made it: the same name and UID in the account database. */
export function serverAccountOf(accounts: ReadonlyMap<number, ServerAccount>, host: { name: string; uid: number }): ServerAccount | null {
  const account = accounts.get(host.uid);
  return account !== undefined && account.name === host.name ? account : null;
}

export interface ServerAccounts {
  /** The server's accounts now, by UID; /etc/passwd is read again only when it changed. */
  current(): ReadonlyMap<number, ServerAccount>;
  /** The UIDs among these that are the server's accounts; each other one is logged, once. */
  only(uids: Iterable<number>): ServerUids;
  /** The UIDs of every account the server made (to end every session at shutdown). */
  all(): ServerUids;
  /** The server's account of this host (same name and UID), or null, logged once. */
  accountOf(host: { name: string; uid: number }): ServerAccount | null;
  /** The hosts among these whose name and UID are an account the server made (one look at the file for all); each other one logged once. */
  onlyHosts<Host extends { name: string; uid: number }>(hosts: readonly Host[]): Host[];
}

/**
 * The server's accounts as root reads them, for the loops that run every
 * fraction of a second (the session cap, the repository watch): one stat of
 * /etc/passwd a call, and a parse only when its identity, size or times
 * changed (reconcile replaces it by rename, so every write is a new inode).
 */
export function createServerAccounts(options: { backupDir: string; logger: Logger; etcDir?: string }): ServerAccounts {
  const { backupDir, logger, etcDir = '/etc' } = options;
  const path = `${etcDir}/passwd`;
  let stamp: string | null = null;
  let accounts = new Map<number, ServerAccount>();
  /** What was logged as not the server's: a UID, or a host's name and UID. */
  const logged = new Set<string>();

  function current(): ReadonlyMap<number, ServerAccount> {
    const stats = statSync(path, { bigint: true, throwIfNoEntry: false });
    const next = stats === undefined ? 'missing' : `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    if (next !== stamp) {
      accounts = parseServerAccounts(readTextIfExists(path) ?? '', backupDir);
      stamp = next;
    }
    return accounts;
  }

  function logOnce(uid: number, host?: string): void {
    const key = host === undefined ? String(uid) : `${host}:${uid}`;
    if (logged.has(key)) return;
    if (logged.size >= MAX_REMEMBERED_LOGS) logged.clear();
    logged.add(key);
    logger.warn(
      { uid, ...(host === undefined ? {} : { host }) },
      'not an account this server made: nothing is signalled, scanned or removed for it',
    );
  }

  return {
    current,
    only(uids) {
      const wanted = [...uids];
      const found = serverUidsAmong(current(), wanted);
      for (const uid of wanted) if (!found.has(uid)) logOnce(uid);
      return found;
    },
    all: () => serverUidsAmong(current(), current().keys()),
    accountOf(host) {
      const account = serverAccountOf(current(), host);
      if (account === null) logOnce(host.uid, host.name);
      return account;
    },
    onlyHosts(hosts) {
      const accounts = current();
      return hosts.filter((host) => {
        const isServers = serverAccountOf(accounts, host) !== null;
        if (!isServers) logOnce(host.uid, host.name);
        return isServers;
      });
    },
  };
}
