import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminToken, listAdminTokenPage } from '../../../src/api/admin/admin-tokens.js';
import { timeAndIdKey } from '../../../src/api/list-pages.js';
import { addPageSizeOption, parsePageSize, readEveryPage } from '../../../src/cli/every-page.js';
import { openMemoryDatabase } from '../../../src/db/connection.js';
import { codeOf } from '../../support/error-codes.js';
import { plansOf } from '../../support/query-plans.js';

/** Admin tokens have no API route: borgctl pages through them in the database, as it does through every list. */
const BASE = new Date('2026-03-02T10:00:00Z').getTime();
let db: ReturnType<typeof openMemoryDatabase>;

beforeEach(() => {
  db = openMemoryDatabase();
});

afterEach(() => {
  db.$client.close();
});

/** Seven tokens, two to a millisecond (the id orders those), newest first as the list gives them. */
function addTokens(): string[] {
  const tokens = Array.from({ length: 7 }, (_, index) => ({
    id: createAdminToken(db, { label: `t${index}`, role: 'read', expiresAt: null }, new Date(BASE + Math.floor(index / 2)), 'cli').id,
    at: BASE + Math.floor(index / 2),
  }));
  tokens.sort((left, right) => right.at - left.at || (left.id < right.id ? 1 : -1));
  return tokens.map((token) => token.id);
}

describe('readEveryPage', () => {
  it('reads a list longer than one page whole, each row once and in order', () => {
    const expected = addTokens();
    let pages = 0;
    const rows = readEveryPage(
      (request) => {
        pages += 1;
        return listAdminTokenPage(db, request);
      },
      'tokens',
      timeAndIdKey,
      2,
    );
    expect(rows.map((row) => row.id)).toEqual(expected);
    expect(pages).toBe(4);
  });

  it('reads a list that fits one page with one read', () => {
    const expected = addTokens();
    expect(readEveryPage((request) => listAdminTokenPage(db, request), 'tokens', timeAndIdKey).map((row) => row.id)).toEqual(expected);
  });
});

describe('listAdminTokenPage', () => {
  it('ends with a null cursor when the last page is exactly full', () => {
    addTokens();
    const first = listAdminTokenPage(db, { limit: 7 });
    expect(first.tokens).toHaveLength(7);
    expect(first.nextCursor).toBeNull();
  });

  it('reads each page by a seek on admin_tokens_created: no scan after the first page, no sort', async () => {
    addTokens();
    const next = (await plansOf(db, () => listAdminTokenPage(db, { limit: 2, after: [BASE + 1, 'x'] }))).flatMap((plan) => plan.steps);
    expect(next).toEqual([expect.stringMatching(/^SEARCH admin_tokens USING INDEX admin_tokens_created \(\(created_at,id\)<\(\?,\?\)\)$/)]);
    const start = (await plansOf(db, () => listAdminTokenPage(db, { limit: 2 }))).flatMap((plan) => plan.steps);
    expect(start).toEqual([expect.stringMatching(/^SCAN admin_tokens USING INDEX admin_tokens_created$/)]);
  });
});

describe('--page-size', () => {
  it.each(['0', '1001', 'x', '-1', '1.5'])('refuses %s', (text) => {
    expect(codeOf(() => parsePageSize(text))).toBe('BAD_REQUEST');
  });

  it('defaults to the largest page', async () => {
    const { Command } = await import('commander');
    const command = addPageSizeOption(new Command('list').exitOverride());
    command.parse([], { from: 'user' });
    expect(parsePageSize(command.opts().pageSize)).toBe(1000);
  });
});
