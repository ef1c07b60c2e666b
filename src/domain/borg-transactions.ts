/**
 * borg's append-only transaction log (`transactions` in the repository): one
 * line per commit, `transaction N, UTC time 2026-11-27T03:22:09.123456`. The
 * transaction id is the number of the last segment file it wrote, so rolling
 * back to transaction N means removing every segment numbered above N (and the
 * index, hints and integrity files, which borg rebuilds).
 */
export interface BorgTransaction {
  id: number;
  committedAt: Date;
}

const LINE_PATTERN = /^transaction (\d+), UTC time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?$/;

export function parseTransactionLog(text: string): BorgTransaction[] {
  return text
    .split('\n')
    .map((line) => LINE_PATTERN.exec(line.trim()))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({
      id: Number(match[1]),
      committedAt: new Date(`${match[2]}.${(match[3] ?? '0').padEnd(3, '0').slice(0, 3)}Z`),
    }));
}

/** The newest of a repository's commits, as many as a page shows, and how many it has in all. */
export interface RestorePoints {
  newest: BorgTransaction[];
  total: number;
}

/** A host that commits empty transactions in a loop grows its log without bound: a page shows this many. */
export const SHOWN_RESTORE_POINTS = 30;

export function newestRestorePoints(transactions: BorgTransaction[]): RestorePoints {
  return { newest: transactions.slice(-SHOWN_RESTORE_POINTS), total: transactions.length };
}

/** The last transaction committed strictly before `before`, or null. */
export function lastTransactionBefore(transactions: BorgTransaction[], before: Date): BorgTransaction | null {
  let chosen: BorgTransaction | null = null;
  for (const transaction of transactions) {
    if (transaction.committedAt.getTime() < before.getTime() && (chosen === null || transaction.id > chosen.id)) chosen = transaction;
  }
  return chosen;
}

/** Whether a repository file must go when rolling back to `transactionId`. */
export function isNewerThanTransaction(relativePath: string, transactionId: number): boolean {
  const segment = /^data\/\d+\/(\d+)$/.exec(relativePath);
  if (segment) return Number(segment[1]) > transactionId;
  // index.N, hints.N and integrity.N describe the newest state; borg rebuilds them.
  return /^(index|hints|integrity)\.\d+$/.test(relativePath);
}
