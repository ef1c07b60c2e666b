import { z } from 'zod';
import type { Actor } from '../../domain/actor.js';
import { AppError } from '../../errors.js';
import { adminActor } from '../admin/admin-tokens.js';
import type { AppEnv } from '../app-env.js';
import { listAuditPage } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { approveEnrollment, denyEnrollment } from '../enrollment/decisions.js';
import { listEnrollmentPage } from '../enrollment/enroll.js';
import { createEnrollmentToken, listEnrollmentTokenPage, revokeEnrollmentToken } from '../enrollment/tokens.js';
import { listHostChecks, queueHostCheck } from '../hosts/host-checks.js';
import { deleteHost, getHost, hostSessions, listHostPage, updateHost } from '../hosts/hosts.js';
import { hostNameKey, integerIdKey, pageQuery, parsePageQuery, timeAndIdKey } from '../list-pages.js';
import { acknowledgeMaintenance } from '../maintainers/maintainers.js';
import { jsonBody } from '../middleware/json-body.js';
import { createWebhook, listWebhookPage, removeWebhook, sendTestEvent, webhookDeliveries } from '../notify/webhooks.js';
import { createRouteTable } from './route-table.js';

const tokenBody = z.strictObject({
  host: z.string().max(64).optional(),
  ttl: z.union([z.string().max(16), z.number().int()]).optional(),
  quota: z.union([z.string().max(24), z.number().int()]).optional(),
  appendOnly: z.boolean().optional(),
  allowFrom: z.string().max(1024).optional(),
  autoApprove: z.boolean().optional(),
  expectBackupEvery: z.union([z.string().max(16), z.number().int()]).optional(),
});

const approveBody = z.strictObject({
  fingerprint: z.string().max(128),
  replaceKey: z.boolean().optional(),
});

const denyBody = z.strictObject({ reason: z.string().max(500).optional() });

const hostChangesBody = z.strictObject({
  quota: z.union([z.string().max(24), z.number().int(), z.null()]).optional(),
  appendOnly: z.boolean().optional(),
  disabled: z.boolean().optional(),
  allowFrom: z.union([z.string().max(1024), z.null()]).optional(),
  maxSessions: z.number().int().optional(),
  fullAccessFor: z.union([z.string().max(16), z.number().int(), z.null()]).optional(),
  pingUrl: z.union([z.string().max(2048), z.null()]).optional(),
  expectBackupEvery: z.union([z.string().max(16), z.number().int(), z.null()]).optional(),
  checkEvery: z.union([z.string().max(16), z.number().int(), z.null()]).optional(),
});

const webhookBody = z.strictObject({
  url: z.string().max(2048),
  events: z.array(z.string().max(64)).max(32).optional(),
  format: z.string().max(32).optional(),
});

// Every list pages the one way (src/api/list-pages.ts): `limit` and `cursor` in, `nextCursor` out.
/** The host list, ordered by host name. */
const hostsQuery = pageQuery(hostNameKey);
/** Lists ordered by a time and an id: enrollments, enrollment tokens, webhooks, deliveries. */
const timeAndIdQuery = pageQuery(timeAndIdKey);
/** Lists ordered by an integer id: the audit log, a host's sessions and checks. */
const integerIdQuery = pageQuery(integerIdKey);

const statusQuery = z.enum(['pending', 'approved', 'denied', 'expired']).optional();

/** Who made an admin request: the token's actor and the client's address, for the audit log. */
export function actorOf(c: { get(key: 'admin'): AppEnv['Variables']['admin']; get(key: 'clientAddress'): string | null }): Actor {
  return { actor: adminActor(c.get('admin')), sourceAddress: c.get('clientAddress') };
}

/**
 * Everything under /v1/admin, each route with the role it requires; the caller
 * mounts requireAdmin (the bearer token) in front.
 */
export function adminRoutes(context: ServerContext) {
  const table = createRouteTable<AppEnv>();

  table.on('POST', '/tokens', 'enroll', jsonBody(tokenBody), async (c) => {
    const created = await createEnrollmentToken(context, c.req.valid('json'), actorOf(c));
    return c.json(created, 201);
  });
  table.on('GET', '/tokens', 'enroll', (c) => c.json(listEnrollmentTokenPage(context, parsePageQuery(timeAndIdQuery, c.req.query()))));
  table.on('DELETE', '/tokens/:jti', 'admin', (c) => {
    revokeEnrollmentToken(context, c.req.param('jti'), actorOf(c));
    return c.json({ jti: c.req.param('jti'), status: 'revoked' });
  });

  table.on('GET', '/enrollments', 'read', (c) => {
    const { status: statusText, ...query } = c.req.query();
    const status = statusQuery.safeParse(statusText);
    if (!status.success) throw new AppError('BAD_REQUEST', 'status must be pending, approved, denied or expired');
    return c.json(listEnrollmentPage(context, { status: status.data, ...parsePageQuery(timeAndIdQuery, query) }));
  });
  table.on('POST', '/enrollments/:id/approve', 'admin', jsonBody(approveBody), async (c) => {
    const host = await approveEnrollment(context, c.req.param('id'), c.req.valid('json'), actorOf(c));
    return c.json({ id: c.req.param('id'), status: 'approved', host: getHost(context, host.name) });
  });
  table.on('POST', '/enrollments/:id/deny', 'admin', jsonBody(denyBody), (c) => {
    denyEnrollment(context, c.req.param('id'), c.req.valid('json').reason ?? null, actorOf(c));
    return c.json({ id: c.req.param('id'), status: 'denied' });
  });

  table.on('GET', '/hosts', 'read', (c) => c.json(listHostPage(context, parsePageQuery(hostsQuery, c.req.query()))));
  table.on('GET', '/hosts/:name', 'read', (c) => c.json(getHost(context, c.req.param('name'))));
  table.on('PATCH', '/hosts/:name', 'admin', jsonBody(hostChangesBody), async (c) =>
    c.json(await updateHost(context, c.req.param('name'), c.req.valid('json'), actorOf(c))),
  );
  table.on('GET', '/hosts/:name/sessions', 'read', (c) =>
    c.json(hostSessions(context, c.req.param('name'), parsePageQuery(integerIdQuery, c.req.query()))),
  );
  table.on('GET', '/hosts/:name/checks', 'read', (c) =>
    c.json(listHostChecks(context, c.req.param('name'), parsePageQuery(integerIdQuery, c.req.query()))),
  );
  table.on('POST', '/hosts/:name/checks', 'admin', async (c) => {
    await queueHostCheck(context, c.req.param('name'), actorOf(c));
    return c.json({ host: c.req.param('name'), status: 'queued' }, 202);
  });
  table.on('POST', '/hosts/:name/acknowledge', 'admin', async (c) =>
    c.json(await acknowledgeMaintenance(context, c.req.param('name'), actorOf(c))),
  );
  table.on('DELETE', '/hosts/:name', 'admin', async (c) => {
    const purge = c.req.query('purge') === 'true';
    await deleteHost(context, c.req.param('name'), { purge }, actorOf(c));
    return c.json({ name: c.req.param('name'), status: purge ? 'purged' : 'deleted' });
  });

  table.on('GET', '/webhooks', 'read', (c) => c.json(listWebhookPage(context, parsePageQuery(timeAndIdQuery, c.req.query()))));
  table.on('POST', '/webhooks', 'admin', jsonBody(webhookBody), (c) =>
    c.json(createWebhook(context, c.req.valid('json'), actorOf(c)), 201),
  );
  table.on('DELETE', '/webhooks/:id', 'admin', (c) => {
    removeWebhook(context, c.req.param('id'), actorOf(c));
    return c.json({ id: c.req.param('id'), status: 'removed' });
  });
  table.on('POST', '/webhooks/:id/test', 'admin', (c) => c.json(sendTestEvent(context, c.req.param('id'), actorOf(c)), 202));
  table.on('GET', '/webhooks/:id/deliveries', 'read', (c) =>
    c.json(webhookDeliveries(context, c.req.param('id'), parsePageQuery(timeAndIdQuery, c.req.query()))),
  );

  table.on('GET', '/audit', 'read', (c) => c.json(listAuditPage(context.db, parsePageQuery(integerIdQuery, c.req.query()))));

  return table;
}
