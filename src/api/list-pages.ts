import { type SQL, sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { parameterSchemas } from './routes/openapi-document.js';

/**
 * Pages of a list: `?limit=N&cursor=C`, answered with the page's rows and
 * `nextCursor` (null on the last page). The cursor is opaque to clients: the
 * base64url of a small JSON object holding the key of the page's last row, so
 * the next page is a seek on an index (`key > after ORDER BY key LIMIT n`),
 * never an offset that scans the rows before it.
 *
 * Every list of the API pages this way; each order has its index (named for
 * it in src/db/schema.ts), and a unit test pins each page's query plan.
 */

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;
/** Longer than any cursor this server makes; a longer one is refused before it is decoded. */
const MAX_CURSOR_LENGTH = 512;
const CURSOR_VERSION = 1;

/** A page's `limit`: a decimal integer from 1 to MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT when absent. */
export const pageLimit = z
  .string()
  .regex(/^\d{1,4}$/)
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_PAGE_LIMIT))
  .default(DEFAULT_PAGE_LIMIT);

/** The cursor that continues after a row whose key is `after`. */
export function encodeCursor(after: unknown): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, after })).toString('base64url');
}

/** The key a cursor continues after, or undefined when the text is not a cursor of this kind. */
export function decodeCursor<Key>(text: string, key: z.ZodType<Key>): Key | undefined {
  if (text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = z.strictObject({ v: z.literal(CURSOR_VERSION), after: key }).safeParse(value);
  return parsed.success ? parsed.data.after : undefined;
}

/** The query of a paged list whose rows are ordered by a key of the given schema: `limit` and `cursor`, nothing else. */
export function pageQuery<Key>(key: z.ZodType<Key>) {
  return z.strictObject({
    limit: pageLimit
      .meta({ description: `rows per page, from 1 to ${MAX_PAGE_LIMIT} (default ${DEFAULT_PAGE_LIMIT})` })
      .register(parameterSchemas, { schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT } }),
    cursor: z
      .string()
      .transform((text, context) => {
        const after = decodeCursor(text, key);
        if (after === undefined) {
          context.addIssue({ code: 'custom', message: 'not a cursor this server gave' });
          return z.NEVER;
        }
        return after;
      })
      .optional()
      .meta({ description: "the previous page's nextCursor; absent: the first page" }),
  });
}

/** The body of one page of a list: its rows under `name`, and `nextCursor`, the next page's cursor (null on the last page). */
export function pageBody<Name extends string, Item extends z.ZodType>(name: Name, item: Item) {
  return z.strictObject({
    [name]: z.array(item),
    nextCursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last page' }),
  } as Record<Name, z.ZodArray<Item>> & { nextCursor: z.ZodNullable<z.ZodString> });
}

/** Parses a paged list's query; a bad limit or cursor (or another parameter) is a BAD_REQUEST. */
export function parsePageQuery<Key>(schema: ReturnType<typeof pageQuery<Key>>, query: Record<string, string>) {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    throw new AppError(
      'BAD_REQUEST',
      `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}, and cursor a nextCursor from the previous page`,
    );
  }
  return { limit: parsed.data.limit, after: parsed.data.cursor };
}

/**
 * A page from up to limit + 1 rows read in key order: the first `limit` rows,
 * and the cursor after the last of them when there was one more row.
 */
export function pageOf<Row>(rows: Row[], limit: number, keyOf: (row: Row) => unknown): { rows: Row[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const page = rows.slice(0, limit);
  return { rows: page, nextCursor: encodeCursor(keyOf(page[page.length - 1] as Row)) };
}

/** One page asked for: at most `limit` rows, those after the row whose key is `after` (none: from the first). */
export interface PageRequest<Key> {
  limit: number;
  after?: Key | undefined;
}

/** The key of a row in the host list, ordered by name. */
export const hostNameKey = z.string().min(1).max(64);

/** The key of a row in a list ordered by a time, then an id (for ties): [milliseconds, id]. */
export const timeAndIdKey = z.tuple([z.number().int().min(0).max(8_640_000_000_000_000), z.string().min(1).max(128)]);
export type TimeAndId = z.infer<typeof timeAndIdKey>;

/** The key of a row in a list ordered by an integer id (audit entries, sessions, checks). */
export const integerIdKey = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export function timeAndIdOf(time: Date, id: string): TimeAndId {
  return [time.getTime(), id];
}

/**
 * The rows after `after` in a list ordered by (time, id), newest first
 * ('desc') or oldest first ('asc'): a row-value comparison, which SQLite
 * answers with a seek on an index of (…, time, id). Undefined: from the first row.
 */
export function afterTimeAndId(time: SQLiteColumn, id: SQLiteColumn, after: TimeAndId | undefined, order: 'asc' | 'desc'): SQL | undefined {
  if (after === undefined) return undefined;
  return order === 'desc' ? sql`(${time}, ${id}) < (${after[0]}, ${after[1]})` : sql`(${time}, ${id}) > (${after[0]}, ${after[1]})`;
}
