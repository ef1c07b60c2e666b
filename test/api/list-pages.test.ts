import { describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/api/audit/audit-log.js';
import { encodeCursor } from '../../src/api/list-pages.js';
import { enrollments, enrollmentTokens, webhookDeliveries, webhooks } from '../../src/db/schema.js';
import { insertSession } from '../../src/host-records/host-sessions.js';
import { recordCheckEnd, recordCheckStart } from '../../src/host-records/repository-checks.js';
import { BACKUP_SUMMARY } from '../support/ended-sessions.js';
import { useTestApi } from '../support/fixture-hooks.js';
import { addHostRow } from '../support/host-rows.js';
import { plansOf } from '../support/query-plans.js';
import { callApi } from '../support/test-context.js';

/**
 * Every list of the admin API pages one way (src/api/list-pages.ts): `limit`
 * and an opaque `cursor` in, the page's rows and `nextCursor` out, each page a
 * seek on an index of the list's order.
 */
const api = useTestApi();

/** Rows per list: pages of 2 give three pages, the last one short. */
const ROWS = 5;
/** Two rows share each time, so the id decides their order: the cursor must carry both. */
const timeOf = (index: number) => new Date(api.clock.now().getTime() - 3_600_000 + Math.floor(index / 2) * 1000);
const HOST = 'web1';

function seedEnrollment(index: number, status: 'pending' | 'approved' | 'denied' | 'expired', expiresInMs = 3_600_000): string {
  const jti = `jti-enrollment-${index}`;
  const at = timeOf(index);
  api.context.db
    .insert(enrollmentTokens)
    .values({
      jti,
      tokenHash: `hash-${jti}`,
      kid: 'kid',
      appendOnly: true,
      status: 'consumed',
      createdBy: 'test',
      issuedAt: at,
      expiresAt: at,
    })
    .run();
  // Ids out of the order of their times, so that an order by id alone would differ.
  const id = `enr_${(index * 7) % 10}${index}`;
  api.context.db
    .insert(enrollments)
    .values({
      id,
      tokenJti: jti,
      hostName: `vm${index}`,
      keyType: 'ssh-ed25519',
      keyBase64: 'AAAA',
      fingerprint: `SHA256:${index}`,
      status,
      appendOnly: true,
      createdAt: at,
      expiresAt: new Date(api.clock.now().getTime() + expiresInMs),
    })
    .run();
  return id;
}

function seedToken(index: number): string {
  const jti = `jti_${(index * 3) % 10}${index}`;
  const at = timeOf(index);
  api.context.db
    .insert(enrollmentTokens)
    .values({
      jti,
      tokenHash: `hash-${jti}`,
      kid: 'kid',
      appendOnly: true,
      status: 'issued',
      createdBy: 'test',
      issuedAt: at,
      expiresAt: at,
    })
    .run();
  return jti;
}

function seedWebhook(index: number): string {
  const id = `wh_${(index * 3) % 10}${index}`;
  api.context.db
    .insert(webhooks)
    .values({ id, url: 'https://hooks.example.net/x', secret: 'whsec_x', events: ['host.stale'], createdAt: timeOf(index) })
    .run();
  return id;
}

const WEBHOOK = 'wh_deliveries';
function seedDelivery(index: number): string {
  const id = `msg_${(index * 3) % 10}${index}`;
  api.context.db
    .insert(webhookDeliveries)
    .values({
      id,
      kind: 'webhook',
      webhookId: WEBHOOK,
      eventType: 'host.stale',
      payload: '{}',
      nextAttemptAt: timeOf(index),
      status: 'delivered',
      createdAt: timeOf(index),
    })
    .run();
  return id;
}

interface ListCase {
  name: string;
  path: string;
  /** The answer's field that holds the rows. */
  field: string;
  idOf: (row: Record<string, unknown>) => string;
  /** Adds ROWS rows (and what they need); gives their ids in the list's order. */
  seed: () => string[];
  table: string;
  /** The index of the list's order (the table, for a list by rowid): every page reads along it. */
  index: string;
}

const byTimeThenId = (order: 'asc' | 'desc', ids: string[]) => {
  const rows = ids.map((id, index) => ({ id, at: timeOf(index).getTime() }));
  rows.sort((left, right) => left.at - right.at || (left.id < right.id ? -1 : left.id > right.id ? 1 : 0));
  const ordered = rows.map((row) => row.id);
  return order === 'asc' ? ordered : ordered.reverse();
};
const seeded = (make: (index: number) => string) => Array.from({ length: ROWS }, (_, index) => make(index));

const LISTS: ListCase[] = [
  {
    name: 'enrollments',
    path: '/v1/admin/enrollments',
    field: 'enrollments',
    idOf: (row) => String(row.id),
    seed: () =>
      byTimeThenId(
        'desc',
        seeded((index) => seedEnrollment(index, index % 2 === 0 ? 'pending' : 'approved')),
      ),
    table: 'enrollments',
    index: 'enrollments_created',
  },
  {
    name: 'enrollment tokens',
    path: '/v1/admin/tokens',
    field: 'tokens',
    idOf: (row) => String(row.jti),
    seed: () => byTimeThenId('desc', seeded(seedToken)),
    table: 'enrollment_tokens',
    index: 'enrollment_tokens_issued',
  },
  {
    name: 'webhooks',
    path: '/v1/admin/webhooks',
    field: 'webhooks',
    idOf: (row) => String(row.id),
    seed: () => byTimeThenId('asc', seeded(seedWebhook)),
    table: 'webhooks',
    index: 'webhooks_created',
  },
  {
    name: 'webhook deliveries',
    path: `/v1/admin/webhooks/${WEBHOOK}/deliveries`,
    field: 'deliveries',
    idOf: (row) => String(row.id),
    seed: () => {
      api.context.db
        .insert(webhooks)
        .values({ id: WEBHOOK, url: 'https://hooks.example.net/x', secret: 'whsec_x', events: ['host.stale'], createdAt: timeOf(0) })
        .run();
      return byTimeThenId('desc', seeded(seedDelivery));
    },
    table: 'webhook_deliveries',
    index: 'webhook_deliveries_webhook_created',
  },
  {
    name: 'audit log',
    path: '/v1/admin/audit',
    field: 'entries',
    idOf: (row) => String(row.id),
    seed: () => {
      // The test's admin token was audited when it was made: entries are added up to ROWS.
      const count = () => api.context.db.$client.prepare('select count(*) as n from audit_log').get() as { n: number };
      for (let index = 0; count().n < ROWS; index += 1)
        recordAudit(api.context.db, timeOf(index), { actor: 'test', action: `test.${index}` });
      return api.context.db.$client
        .prepare('select id from audit_log order by id desc')
        .all()
        .map((row) => String((row as { id: number }).id));
    },
    table: 'audit_log',
    index: 'audit_log',
  },
  {
    name: "a host's sessions",
    path: `/v1/admin/hosts/${HOST}/sessions`,
    field: 'sessions',
    idOf: (row) => String(row.id),
    seed: () => {
      addHostRow(api.context.db, HOST, api.clock.now());
      addHostRow(api.context.db, 'web2', api.clock.now());
      for (let index = 0; index < ROWS; index += 1) {
        for (const hostName of [HOST, 'web2']) {
          insertSession(api.context.db, {
            hostName,
            startedAt: timeOf(index),
            endedAt: timeOf(index),
            clientAddress: null,
            connections: 1,
            lastCommitBefore: index,
            lastCommitAfter: index + 1,
            endedBy: 'client',
            ...BACKUP_SUMMARY,
          });
        }
      }
      return api.context.db.$client
        .prepare('select id from host_sessions where host_name = ? order by id desc')
        .all(HOST)
        .map((row) => String((row as { id: number }).id));
    },
    table: 'host_sessions',
    index: 'host_sessions_host',
  },
  {
    name: "a host's checks",
    path: `/v1/admin/hosts/${HOST}/checks`,
    field: 'checks',
    idOf: (row) => String(row.id),
    seed: () => {
      addHostRow(api.context.db, HOST, api.clock.now());
      addHostRow(api.context.db, 'web2', api.clock.now());
      const ids: string[] = [];
      for (let index = 0; index < ROWS; index += 1) {
        for (const hostName of [HOST, 'web2']) {
          const check = recordCheckStart(api.context.db, hostName, timeOf(index));
          recordCheckEnd(api.context.db, check.id, timeOf(index), { outcome: 'ok', detail: null });
          if (hostName === HOST) ids.unshift(String(check.id));
        }
      }
      return ids;
    },
    table: 'repository_checks',
    index: 'repository_checks_host',
  },
];

function firstPageWalk(list: ListCase): RegExp {
  return list.index === list.table
    ? new RegExp(`^SCAN ${list.table}$`)
    : new RegExp(`^SCAN ${list.table} USING (COVERING )?INDEX ${list.index}$`);
}

function get(path: string) {
  return callApi(api.app, 'GET', path, { token: api.adminToken });
}

/** Every row of the list, read in pages of `limit`; the number of pages it took. */
async function readAll(list: ListCase, limit: number, query = '') {
  const ids: string[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const response = await get(`${list.path}?limit=${limit}${query}${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(response.status).toBe(200);
    const rows = response.body[list.field] as Record<string, unknown>[];
    expect(rows.length).toBeLessThanOrEqual(limit);
    ids.push(...rows.map(list.idOf));
    pages += 1;
    expect(response.body).toHaveProperty('nextCursor');
    cursor = response.body.nextCursor as string | null;
    if (pages > 20) throw new Error('the list did not end');
  } while (cursor !== null);
  return { ids, pages };
}

describe.each(LISTS)('GET $path ($name)', (list) => {
  it('pages through every row in pages of 2, each once and in order, nextCursor null on the last', async () => {
    const expected = list.seed();
    expect(expected).toHaveLength(ROWS);
    expect(await readAll(list, 2)).toEqual({ ids: expected, pages: 3 });
  });

  it('answers every row and a null nextCursor when one page holds them', async () => {
    const expected = list.seed();
    const response = await get(list.path);
    expect(response.body[list.field].map(list.idOf)).toEqual(expected);
    expect(response.body.nextCursor).toBeNull();
  });

  it.each([
    ['limit=0'],
    ['limit=1001'],
    ['limit=two'],
    ['limit=-1'],
    ['cursor=not-a-cursor'],
    ['cursor=%24%24%24'],
    [`cursor=${encodeCursor({ another: 'shape' })}`],
    [`cursor=${Buffer.from('{"v":2,"after":1}').toString('base64url')}`],
    ['before=1'],
  ])('refuses %s with 400 and the JSON error body', async (query) => {
    list.seed();
    const response = await get(`${list.path}?${query}`);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: 'BAD_REQUEST', message: expect.any(String) });
  });

  it('serves a page from an index: no statement scans a table or sorts', async () => {
    list.seed();
    const first = await get(`${list.path}?limit=2`);
    for (const cursor of [undefined, first.body.nextCursor as string]) {
      const plans = await plansOf(api.context.db, () => get(`${list.path}?limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`));
      const steps = plans.flatMap((plan) => plan.steps);
      expect(steps.some((step) => step.includes(list.index))).toBe(true);
      for (const step of steps) {
        expect(step).not.toMatch(/TEMP B-TREE/);
        // A SCAN is allowed only along the list's own index (its table, for a list by rowid), and only
        // for the first page, which walks it from the start: the LIMIT stops it.
        if (/^SCAN/.test(step)) {
          expect(cursor).toBeUndefined();
          expect(step).toMatch(firstPageWalk(list));
        }
      }
    }
  });
});

describe('GET /v1/admin/enrollments?status=', () => {
  it.each([
    ['pending', ['p0', 'p2', 'p4']],
    ['expired', ['e1', 'x3', 'e5']],
    ['approved', ['a6']],
  ] as const)('pages through the %s enrollments only, in order', async (status, tags) => {
    const kinds: Record<string, () => string> = {};
    const ids: Record<string, string> = {};
    // pending (p), pending past its expiry (e), marked expired (x), approved (a): by index, oldest first.
    const plan = ['p', 'e', 'p', 'x', 'p', 'e', 'a'];
    plan.forEach((kind, index) => {
      kinds[`${kind}${index}`] = () =>
        seedEnrollment(index, kind === 'a' ? 'approved' : kind === 'x' ? 'expired' : 'pending', kind === 'e' ? -60_000 : 3_600_000);
    });
    for (const [tag, make] of Object.entries(kinds)) ids[tag] = make();
    const expected = byTimeThenId(
      'desc',
      plan.map((kind, index) => ids[`${kind}${index}`] as string),
    ).filter((id) => tags.some((tag) => ids[tag] === id));
    const list = LISTS[0] as ListCase;
    const { ids: listed } = await readAll(list, 2, `&status=${status}`);
    expect(listed).toEqual(expected);
  });

  it('refuses an unknown status with 400', async () => {
    const response = await get('/v1/admin/enrollments?status=lost');
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('BAD_REQUEST');
  });

  it('serves each status from the status index: no scan, no sort', async () => {
    for (let index = 0; index < ROWS; index += 1)
      seedEnrollment(index, index % 2 === 0 ? 'pending' : 'expired', index === 2 ? -60_000 : 3_600_000);
    for (const status of ['pending', 'expired', 'approved', 'denied']) {
      const first = await get(`/v1/admin/enrollments?limit=1&status=${status}`);
      for (const cursor of [undefined, first.body.nextCursor as string | null]) {
        if (cursor === null) continue;
        const query = `/v1/admin/enrollments?limit=1&status=${status}${cursor === undefined ? '' : `&cursor=${cursor}`}`;
        const steps = (await plansOf(api.context.db, () => get(query))).flatMap((plan) => plan.steps);
        expect(steps).toContainEqual(expect.stringMatching(/^SEARCH enrollments USING INDEX enrollments_status_created \(status=\?/));
        for (const step of steps) {
          expect(step).not.toMatch(/TEMP B-TREE/);
          expect(step).not.toMatch(/^SCAN enrollments/);
        }
      }
    }
  });
});
