import type { Db } from '../../src/db/connection.js';

/**
 * The query plans (EXPLAIN QUERY PLAN, one line per step) of every statement
 * prepared on `db` while `call` runs, the statement cache included: the way a
 * test shows that a list's page is a seek on an index, not a scan of its table.
 */
export async function plansOf(db: Db, call: () => unknown): Promise<{ source: string; steps: string[] }[]> {
  const client = db.$client;
  const statements: string[] = [];
  const prepare = client.prepare.bind(client);
  client.prepare = ((source: string) => {
    statements.push(source);
    return prepare(source);
  }) as typeof client.prepare;
  try {
    await call();
  } finally {
    client.prepare = prepare;
  }
  // drizzle binds every value as a `?`: a NULL for each gives the same plan (it is made when the statement is prepared).
  return statements
    .filter((source) => /^\s*(select|with)\b/i.test(source))
    .map((source) => {
      const parameters = Array.from({ length: source.split('?').length - 1 }, () => null);
      const steps = (prepare(`EXPLAIN QUERY PLAN ${source}`).all(...parameters) as { detail: string }[]).map((row) => row.detail);
      return { source, steps };
    });
}
