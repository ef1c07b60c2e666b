import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { listHostPage } from '../../../../src/api/hosts/hosts.js';
import { decodeCursor } from '../../../../src/api/list-pages.js';
import { hosts } from '../../../../src/db/schema.js';
import { updateBackupState } from '../../../../src/host-records/backup-state.js';
import { recordCheckEnd, recordCheckStart } from '../../../../src/host-records/repository-checks.js';
import { useTestContext } from '../../../support/fixture-hooks.js';
import { addManyHostRows } from '../../../support/host-rows.js';
import { plansOf } from '../../../support/query-plans.js';

const test = useTestContext();
const nameOf = (index: number) => `vm${String(index).padStart(4, '0')}`;

describe('listHostPage', () => {
  it('pages through the live hosts by name, each once, and ends with a null cursor', () => {
    addManyHostRows(test.context.db, 25, nameOf, test.clock.now(), 20_000);
    test.context.db
      .update(hosts)
      .set({ status: 'deleted' })
      .where(eq(hosts.name, nameOf(3)))
      .run();
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = listHostPage(test.context, { limit: 10, after });
      pages += 1;
      seen.push(...page.hosts.map((host) => host.name));
      if (page.nextCursor === null) break;
      after = decodeCursor(page.nextCursor, z.string());
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, index) => nameOf(index)).filter((name) => name !== nameOf(3)));
  });

  it('gives no cursor when the last page is exactly full', () => {
    addManyHostRows(test.context.db, 10, nameOf, test.clock.now(), 20_000);
    expect(listHostPage(test.context, { limit: 10 }).nextCursor).toBeNull();
  });

  it('describes each host of the page with its own backup and check figures', () => {
    addManyHostRows(test.context.db, 3, nameOf, test.clock.now(), 20_000);
    updateBackupState(test.context.db, test.clock.now(), nameOf(2), { repositoryBytes: 4096 });
    const check = recordCheckStart(test.context.db, nameOf(0), test.clock.now()).id;
    recordCheckEnd(test.context.db, check, test.clock.now(), { outcome: 'failed', detail: 'segment 3' });
    const [first, , third] = listHostPage(test.context, { limit: 10 }).hosts;
    expect(first).toMatchObject({ repositoryBytes: null, lastCheck: { outcome: 'failed' } });
    expect(third).toMatchObject({ repositoryBytes: 4096, lastCheck: null });
  });

  it('reads a page by seeking on indexes: no statement scans a whole table or sorts', async () => {
    addManyHostRows(test.context.db, 50, nameOf, test.clock.now(), 20_000);
    for (const after of [undefined, nameOf(20)]) {
      const plans = await plansOf(test.context.db, () => listHostPage(test.context, { limit: 10, after }));
      expect(plans.length).toBeGreaterThanOrEqual(3);
      for (const { steps: plan } of plans) {
        for (const step of plan) {
          expect(step).not.toMatch(/TEMP B-TREE/);
          // A SCAN (no SEARCH) is allowed only along the hosts' name index, where the LIMIT stops it.
          if (/^SCAN/.test(step)) expect(step).toMatch(/^SCAN hosts USING INDEX sqlite_autoindex_hosts_1/);
        }
      }
    }
  });
});
