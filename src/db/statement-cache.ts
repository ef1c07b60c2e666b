import type Database from 'better-sqlite3';

/** Distinct statements kept: the API's queries are a few dozen; pages of names (IN lists) add one per length. */
export const MAX_CACHED_STATEMENTS = 500;

/**
 * Makes `client.prepare` hand back the statement it prepared before for the
 * same SQL text. drizzle prepares every query anew each time it runs, and
 * SQLite's prepare was about a fifth of an enrollment's CPU (bench/api, issue
 * 19). A statement comes back as a fresh one would: in object mode (drizzle
 * turns raw mode on when it wants arrays, and never off). One that is in use
 * (an unfinished iterate) is not shared: the caller gets a new one. At most
 * `maxStatements` are kept, the least recently used going first.
 */
export function cacheStatements(client: Database.Database, maxStatements = MAX_CACHED_STATEMENTS): void {
  const prepare = client.prepare.bind(client);
  const statements = new Map<string, Database.Statement>();
  client.prepare = ((source: string) => {
    const cached = statements.get(source);
    if (cached !== undefined && !cached.busy) {
      statements.delete(source);
      statements.set(source, cached);
      if (cached.reader) cached.raw(false);
      return cached;
    }
    const statement = prepare(source);
    if (cached === undefined) {
      statements.set(source, statement);
      if (statements.size > maxStatements) statements.delete(statements.keys().next().value as string);
    }
    return statement;
  }) as typeof client.prepare;
}
