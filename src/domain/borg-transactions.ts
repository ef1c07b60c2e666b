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

/** One log line's transaction, or null for a line that is not one. */
export function parseTransactionLine(line: string): BorgTransaction | null {
  const match = LINE_PATTERN.exec(line.trim());
  if (match === null) return null;
  return { id: Number(match[1]), committedAt: new Date(`${match[2]}.${(match[3] ?? '0').padEnd(3, '0').slice(0, 3)}Z`) };
}

export function parseTransactionLog(text: string): BorgTransaction[] {
  return text
    .split('\n')
    .map(parseTransactionLine)
    .filter((transaction): transaction is BorgTransaction => transaction !== null);
}

/** The newest of a repository's commits, as many as a page shows, and how many it has in all. */
export interface RestorePoints {
  newest: BorgTransaction[];
  total: number;
}

/** A host that commits empty transactions in a loop grows its log without bound: a page shows this many. */
export const SHOWN_RESTORE_POINTS = 30;

/** The newest SHOWN_RESTORE_POINTS of a log's lines and their count, holding no more than those at a time. */
export function newestRestorePoints(lines: Iterable<string>): RestorePoints {
  const newest: BorgTransaction[] = [];
  let total = 0;
  for (const line of lines) {
    const transaction = parseTransactionLine(line);
    if (transaction === null) continue;
    total += 1;
    newest.push(transaction);
    if (newest.length > SHOWN_RESTORE_POINTS) newest.shift();
  }
  return { newest, total };
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
