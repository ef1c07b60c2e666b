import { chmodSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import {
  type BorgTransaction,
  isNewerThanTransaction,
  lastTransactionBefore,
  newestRestorePoints,
  parseTransactionLog,
  type RestorePoints,
} from '../../domain/borg-transactions.js';
import { AppError } from '../../errors.js';
import { type ReadOptions, readLinesOfRegularFileIfExists, readRegularFileIfExists } from '../../untrusted-files.js';
import { writeFileAtomically } from '../files/atomic-file.js';
import { asAccount } from '../files/effective-account.js';
import { AS_OWNER, repositoryOwner } from '../files/repository-owner.js';

function noTransactionLog(): AppError {
  return new AppError('NOT_FOUND', 'the repository has no transaction log (it was never written in append-only mode)');
}

function readTransactionLog(repository: string, options: ReadOptions = AS_OWNER): BorgTransaction[] {
  const content = readRegularFileIfExists(`${repository}/transactions`, options);
  if (content === null) throw noTransactionLog();
  return parseTransactionLog(content);
}

/**
 * The repository's newest commits and their count, read by root without
 * becoming its owner: the supervisor answers the admin page with these, and
 * a seteuid there would be the whole process's. The repository is looked at
 * as repositoryOwner does (its parent is root's, so its name is safe); the
 * log is opened without following a link and must be the owner's own file,
 * so a hard link to root's or another host's file is refused. The host
 * writes the log, as long as it likes: it is read a chunk at a time.
 */
export function readRestorePoints(repository: string): RestorePoints {
  const points = readLinesOfRegularFileIfExists(`${repository}/transactions`, asRepositoryOwner(repository), newestRestorePoints);
  if (points === null) throw noTransactionLog();
  return points;
}

/** Every commit, read as readRestorePoints reads (for `borgctl hosts restore --list`, which prints them all). */
export function readTransactions(repository: string): BorgTransaction[] {
  return readTransactionLog(repository, asRepositoryOwner(repository));
}

function asRepositoryOwner(repository: string): ReadOptions {
  return { ...AS_OWNER, ownedBy: repositoryOwner(repository).uid };
}

/** Copies a tree as hard links (cp -al): cheap, and the copy keeps every mode. Run as the tree's owner. */
function linkTree(source: string, target: string): void {
  const stats = lstatSync(source);
  if (stats.isDirectory()) {
    mkdirSync(target, { mode: 0o700 });
    chmodSync(target, stats.mode & 0o7777);
    for (const entry of readdirSync(source)) linkTree(`${source}/${entry}`, `${target}/${entry}`);
  } else if (stats.isFile()) {
    linkSync(source, target);
  }
}

function listFiles(root: string, prefix = ''): string[] {
  return readdirSync(`${root}/${prefix}`, { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? listFiles(root, relative) : [relative];
  });
}

/** Drops the log lines of the undone transactions, keeping the file's owner and mode. */
function truncateTransactionLog(repository: string, transactionId: number): void {
  const path = `${repository}/transactions`;
  const content = readRegularFileIfExists(path, AS_OWNER) ?? '';
  const stats = lstatSync(path);
  const kept = content.split('\n').filter((line) => {
    const [transaction] = parseTransactionLog(line);
    return transaction !== undefined && transaction.id <= transactionId;
  });
  writeFileAtomically(path, kept.map((line) => `${line}\n`).join(''), { uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 });
}

export interface RollBackResult {
  transaction: BorgTransaction;
  /** The commits the repository holds after the rollback, oldest first. */
  keptTransactions: BorgTransaction[];
  removedFiles: number;
  keptCopy: string;
}

/**
 * Brings an append-only repository back to its last commit before `before`,
 * as borg's documentation describes: keep a hard-link copy of the current
 * state, then remove the newer segments and the index files. The caller makes
 * sure no client holds the repository.
 */
export function rollBackRepository(repository: string, before: Date, now: Date): RollBackResult {
  const owner = repositoryOwner(repository);
  const log = asAccount(owner, () => {
    if (existsSync(`${repository}/lock.exclusive`) || existsSync(`${repository}/lock.roster`)) {
      throw new AppError('BAD_REQUEST', 'the repository is locked by a running borg; try again when it is done');
    }
    return readTransactionLog(repository);
  });
  const transaction = lastTransactionBefore(log, before);
  if (!transaction) throw new AppError('NOT_FOUND', 'no transaction was committed before that time');
  const keptCopy = `${repository}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
  // Beside the repository, in the root-owned home: root makes the top and gives it to the owner.
  const mode = lstatSync(repository).mode & 0o7777;
  mkdirSync(keptCopy, { mode: 0o700 });
  lchownSync(keptCopy, owner.uid, owner.gid);
  chmodSync(keptCopy, mode);
  return asAccount(owner, () => {
    for (const entry of readdirSync(repository)) linkTree(`${repository}/${entry}`, `${keptCopy}/${entry}`);
    const doomed = listFiles(repository).filter((path) => isNewerThanTransaction(path, transaction.id));
    for (const path of doomed) unlinkSync(`${repository}/${path}`);
    truncateTransactionLog(repository, transaction.id);
    const keptTransactions = log.filter((kept) => kept.id <= transaction.id);
    return { transaction, keptTransactions, removedFiles: doomed.length, keptCopy };
  });
}
