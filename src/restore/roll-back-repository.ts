import { chmodSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { type BorgTransaction, isNewerThanTransaction, lastTransactionBefore, parseTransactionLog } from '../domain/borg-transactions.js';
import { AppError } from '../errors.js';
import { writeFileAtomically } from '../provision/atomic-file.js';

export function readTransactions(repository: string): BorgTransaction[] {
  const path = `${repository}/transactions`;
  if (!existsSync(path)) {
    throw new AppError('NOT_FOUND', 'the repository has no transaction log (it was never written in append-only mode)');
  }
  return parseTransactionLog(readFileSync(path, 'utf8'));
}

/** Copies a tree as hard links (cp -al): cheap, and the copy keeps every owner and mode. */
function linkTree(source: string, target: string): void {
  const stats = lstatSync(source);
  if (stats.isDirectory()) {
    mkdirSync(target, { mode: stats.mode & 0o7777 });
    lchownSync(target, stats.uid, stats.gid);
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
  const stats = lstatSync(path);
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      const [transaction] = parseTransactionLog(line);
      return transaction !== undefined && transaction.id <= transactionId;
    });
  writeFileAtomically(path, kept.map((line) => `${line}\n`).join(''), { uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 });
}

export interface RollBackResult {
  transaction: BorgTransaction;
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
  if (existsSync(`${repository}/lock.exclusive`) || existsSync(`${repository}/lock.roster`)) {
    throw new AppError('BAD_REQUEST', 'the repository is locked by a running borg; try again when it is done');
  }
  const transaction = lastTransactionBefore(readTransactions(repository), before);
  if (!transaction) throw new AppError('NOT_FOUND', 'no transaction was committed before that time');
  const keptCopy = `${repository}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
  linkTree(repository, keptCopy);
  const doomed = listFiles(repository).filter((path) => isNewerThanTransaction(path, transaction.id));
  for (const path of doomed) unlinkSync(`${repository}/${path}`);
  truncateTransactionLog(repository, transaction.id);
  return { transaction, removedFiles: doomed.length, keptCopy };
}
