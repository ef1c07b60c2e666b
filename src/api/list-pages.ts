import { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * Pages of a list: `?limit=N&cursor=C`, answered with the page's rows and
 * `nextCursor` (null on the last page). The cursor is opaque to clients: the
 * base64url of a small JSON object holding the key of the page's last row, so
 * the next page is a seek on an index (`key > after ORDER BY key LIMIT n`),
 * never an offset that scans the rows before it.
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
    limit: pageLimit,
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
      .optional(),
  });
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
