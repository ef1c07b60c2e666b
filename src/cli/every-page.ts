import { type Command, Option } from 'commander';
import type { z } from 'zod';
import { decodeCursor, MAX_PAGE_LIMIT, type PageRequest } from '../api/list-pages.js';
import { AppError } from '../errors.js';

/**
 * Every row of a paged list, read page by page in the list's order as a
 * client of the API would (`limit`, then the `nextCursor` of each page), so a
 * list command prints the whole list however long it is, and no single read
 * holds more than one page.
 */
export function readEveryPage<Field extends string, Row, Key>(
  readPage: (request: PageRequest<Key>) => { [name in Field]: Row[] } & { nextCursor: string | null },
  field: Field,
  key: z.ZodType<Key>,
  pageSize: number = MAX_PAGE_LIMIT,
): Row[] {
  const rows: Row[] = [];
  let after: Key | undefined;
  for (;;) {
    const page = readPage({ limit: pageSize, after });
    rows.push(...page[field]);
    if (page.nextCursor === null) return rows;
    after = decodeCursor(page.nextCursor, key);
    if (after === undefined) throw new Error(`a list gave a cursor it cannot read: ${page.nextCursor}`);
  }
}

/** `--page-size N` (hidden: the tests use it to make a short list span pages), rows read at a time. */
export function addPageSizeOption(command: Command): Command {
  return command.addOption(
    new Option('--page-size <count>', `rows read at a time (1 to ${MAX_PAGE_LIMIT})`).hideHelp().default(String(MAX_PAGE_LIMIT)),
  );
}

export function parsePageSize(text: string): number {
  const size = Number(text);
  if (!/^\d{1,4}$/.test(text) || size < 1 || size > MAX_PAGE_LIMIT) {
    throw new AppError('BAD_REQUEST', `--page-size must be a whole number from 1 to ${MAX_PAGE_LIMIT}`);
  }
  return size;
}
