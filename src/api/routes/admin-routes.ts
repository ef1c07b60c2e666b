import { z } from 'zod';
import type { Actor } from '../../domain/actor.js';
import { HOST_NAME_PATTERN } from '../../domain/host-name.js';
import { AppError } from '../../errors.js';
import { adminActor } from '../admin/admin-tokens.js';
import type { AppEnv } from '../app-env.js';
import { auditEntryBody, listAuditPage } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { approveEnrollment, denyEnrollment } from '../enrollment/decisions.js';
import { enrollmentBody, enrollmentIdParams, listEnrollmentPage } from '../enrollment/enroll.js';
import {
  createdTokenBody,
  createEnrollmentToken,
  enrollmentTokenBody,
  listEnrollmentTokenPage,
  revokeEnrollmentToken,
} from '../enrollment/tokens.js';
import { hostCheckBody, listHostChecks, queueHostCheck } from '../hosts/host-checks.js';
import { deleteHost, getHost, hostBody, hostSessionBody, hostSessions, listHostPage, updateHost } from '../hosts/hosts.js';
import { hostNameKey, integerIdKey, pageBody, pageQuery, parsePageQuery, timeAndIdKey } from '../list-pages.js';
import { acknowledgeMaintenance } from '../maintainers/maintainers.js';
import { jsonBody } from '../middleware/json-body.js';
import { deliveryBody } from '../notify/delivery-store.js';
import {
  createdWebhookBody,
  createWebhook,
  listWebhookPage,
  removeWebhook,
  sendTestEvent,
  webhookBody,
  webhookDeliveries,
} from '../notify/webhooks.js';
import { createRouteTable } from './route-table.js';

const tokenRequestBody = z.strictObject({
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

const webhookRequestBody = z.strictObject({
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
/** What GET /enrollments takes: a status besides the page (the status is checked first, for its own message). */
const enrollmentsQuery = timeAndIdQuery.extend({ status: statusQuery });

/** DELETE /hosts/:name?purge=true deletes the repository too; any other value keeps it. */
const deleteHostQuery = z.strictObject({
  purge: z.string().optional().meta({ description: '`true`: delete the repository too (otherwise it is kept)' }),
});

/** An answer naming what was acted on and what it is now, such as `{ "jti": "…", "status": "revoked" }`. */
function outcomeBody<Key extends string, Status extends string>(key: Key, statuses: readonly [Status, ...Status[]]) {
  return z.strictObject({ [key]: z.string(), status: z.enum(statuses) } as Record<Key, z.ZodString> & { status: z.ZodEnum });
}

/** The host a path names. */
const hostNameParams = z.strictObject({ name: z.string().regex(HOST_NAME_PATTERN).meta({ description: 'the host name' }) });

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

  table.on(
    'POST',
    '/tokens',
    {
      access: 'enroll',
      operationId: 'createEnrollmentToken',
      summary: 'Mint a one-time enrollment token',
      body: tokenRequestBody,
      responses: { 201: { description: 'the token (shown only here) and the command to run on the new VM', json: createdTokenBody } },
    },
    jsonBody(tokenRequestBody),
    async (c) => {
      const created = await createEnrollmentToken(context, c.req.valid('json'), actorOf(c));
      return c.json(created, 201);
    },
  );
  table.on(
    'GET',
    '/tokens',
    {
      access: 'enroll',
      operationId: 'listEnrollmentTokens',
      summary: 'List enrollment tokens, newest first',
      query: timeAndIdQuery,
      responses: { 200: { description: 'one page of tokens', json: pageBody('tokens', enrollmentTokenBody) } },
    },
    (c) => c.json(listEnrollmentTokenPage(context, parsePageQuery(timeAndIdQuery, c.req.query()))),
  );
  table.on(
    'DELETE',
    '/tokens/:jti',
    {
      access: 'admin',
      operationId: 'revokeEnrollmentToken',
      summary: 'Revoke an unused enrollment token',
      responses: { 200: { description: 'revoked (or already so)', json: outcomeBody('jti', ['revoked']) } },
      errors: [404, 409],
    },
    (c) => {
      revokeEnrollmentToken(context, c.req.param('jti'), actorOf(c));
      return c.json({ jti: c.req.param('jti'), status: 'revoked' });
    },
  );

  table.on(
    'GET',
    '/enrollments',
    {
      access: 'read',
      operationId: 'listEnrollments',
      summary: 'List enrollments, newest first',
      query: enrollmentsQuery,
      responses: { 200: { description: 'one page of enrollments', json: pageBody('enrollments', enrollmentBody) } },
    },
    (c) => {
      const { status: statusText, ...query } = c.req.query();
      const status = statusQuery.safeParse(statusText);
      if (!status.success) throw new AppError('BAD_REQUEST', 'status must be pending, approved, denied or expired');
      return c.json(listEnrollmentPage(context, { status: status.data, ...parsePageQuery(timeAndIdQuery, query) }));
    },
  );
  table.on(
    'POST',
    '/enrollments/:id/approve',
    {
      access: 'admin',
      operationId: 'approveEnrollment',
      params: enrollmentIdParams,
      summary: 'Approve a pending enrollment, confirming its key fingerprint',
      body: approveBody,
      responses: {
        200: {
          description: 'approved: the host it made',
          json: z.strictObject({ id: z.string(), status: z.literal('approved'), host: hostBody }),
        },
      },
      errors: [404, 409, 507],
    },
    jsonBody(approveBody),
    async (c) => {
      const host = await approveEnrollment(context, c.req.param('id'), c.req.valid('json'), actorOf(c));
      return c.json({ id: c.req.param('id'), status: 'approved', host: getHost(context, host.name) });
    },
  );
  table.on(
    'POST',
    '/enrollments/:id/deny',
    {
      access: 'admin',
      operationId: 'denyEnrollment',
      params: enrollmentIdParams,
      summary: 'Deny a pending enrollment',
      body: denyBody,
      responses: { 200: { description: 'denied', json: outcomeBody('id', ['denied']) } },
      errors: [404, 409],
    },
    jsonBody(denyBody),
    (c) => {
      denyEnrollment(context, c.req.param('id'), c.req.valid('json').reason ?? null, actorOf(c));
      return c.json({ id: c.req.param('id'), status: 'denied' });
    },
  );

  table.on(
    'GET',
    '/hosts',
    {
      access: 'read',
      operationId: 'listHosts',
      summary: 'List hosts by name',
      query: hostsQuery,
      responses: { 200: { description: 'one page of hosts', json: pageBody('hosts', hostBody) } },
    },
    (c) => c.json(listHostPage(context, parsePageQuery(hostsQuery, c.req.query()))),
  );
  table.on(
    'GET',
    '/hosts/:name',
    {
      access: 'read',
      operationId: 'getHost',
      params: hostNameParams,
      summary: 'Show a host',
      responses: { 200: { description: 'the host', json: hostBody } },
      errors: [404],
    },
    (c) => c.json(getHost(context, c.req.param('name'))),
  );
  table.on(
    'PATCH',
    '/hosts/:name',
    {
      access: 'admin',
      operationId: 'updateHost',
      params: hostNameParams,
      summary: "Change a host's settings",
      body: hostChangesBody,
      responses: { 200: { description: 'the host as it is now', json: hostBody } },
      errors: [404, 409],
    },
    jsonBody(hostChangesBody),
    async (c) => c.json(await updateHost(context, c.req.param('name'), c.req.valid('json'), actorOf(c))),
  );
  table.on(
    'GET',
    '/hosts/:name/sessions',
    {
      access: 'read',
      operationId: 'listHostSessions',
      params: hostNameParams,
      summary: "List a host's recorded borg sessions, newest first",
      query: integerIdQuery,
      responses: { 200: { description: 'one page of sessions', json: pageBody('sessions', hostSessionBody) } },
      errors: [404],
    },
    (c) => c.json(hostSessions(context, c.req.param('name'), parsePageQuery(integerIdQuery, c.req.query()))),
  );
  table.on(
    'GET',
    '/hosts/:name/checks',
    {
      access: 'read',
      operationId: 'listHostChecks',
      params: hostNameParams,
      summary: "List a host's repository checks, newest first",
      query: integerIdQuery,
      responses: { 200: { description: 'one page of checks', json: pageBody('checks', hostCheckBody) } },
      errors: [404],
    },
    (c) => c.json(listHostChecks(context, c.req.param('name'), parsePageQuery(integerIdQuery, c.req.query()))),
  );
  table.on(
    'POST',
    '/hosts/:name/checks',
    {
      access: 'admin',
      operationId: 'queueHostCheck',
      params: hostNameParams,
      summary: "Check a host's repository as soon as it can",
      responses: { 202: { description: 'queued', json: outcomeBody('host', ['queued']) } },
      errors: [404, 409],
    },
    async (c) => {
      await queueHostCheck(context, c.req.param('name'), actorOf(c));
      return c.json({ host: c.req.param('name'), status: 'queued' }, 202);
    },
  );
  table.on(
    'POST',
    '/hosts/:name/acknowledge',
    {
      access: 'admin',
      operationId: 'acknowledgeMaintenance',
      params: hostNameParams,
      summary: "Let a held host's maintainers back",
      responses: {
        200: { description: 'whether it was held', json: z.strictObject({ host: z.string(), wasHeld: z.boolean() }) },
      },
      errors: [400, 404],
    },
    async (c) => c.json(await acknowledgeMaintenance(context, c.req.param('name'), actorOf(c))),
  );
  table.on(
    'DELETE',
    '/hosts/:name',
    {
      access: 'admin',
      operationId: 'deleteHost',
      params: hostNameParams,
      summary: 'Delete a host (its repository is kept unless purge=true)',
      query: deleteHostQuery,
      responses: { 200: { description: 'deleted or purged', json: outcomeBody('name', ['deleted', 'purged']) } },
      errors: [404, 409],
    },
    async (c) => {
      const purge = c.req.query('purge') === 'true';
      await deleteHost(context, c.req.param('name'), { purge }, actorOf(c));
      return c.json({ name: c.req.param('name'), status: purge ? 'purged' : 'deleted' });
    },
  );

  table.on(
    'GET',
    '/webhooks',
    {
      access: 'read',
      operationId: 'listWebhooks',
      summary: 'List webhooks, oldest first',
      query: timeAndIdQuery,
      responses: { 200: { description: 'one page of webhooks', json: pageBody('webhooks', webhookBody) } },
    },
    (c) => c.json(listWebhookPage(context, parsePageQuery(timeAndIdQuery, c.req.query()))),
  );
  table.on(
    'POST',
    '/webhooks',
    {
      access: 'admin',
      operationId: 'createWebhook',
      summary: 'Add a webhook',
      body: webhookRequestBody,
      responses: { 201: { description: 'the webhook, with its signing secret (shown only here)', json: createdWebhookBody } },
    },
    jsonBody(webhookRequestBody),
    (c) => c.json(createWebhook(context, c.req.valid('json'), actorOf(c)), 201),
  );
  table.on(
    'DELETE',
    '/webhooks/:id',
    {
      access: 'admin',
      operationId: 'removeWebhook',
      summary: 'Remove a webhook',
      responses: { 200: { description: 'removed', json: outcomeBody('id', ['removed']) } },
      errors: [404],
    },
    (c) => {
      removeWebhook(context, c.req.param('id'), actorOf(c));
      return c.json({ id: c.req.param('id'), status: 'removed' });
    },
  );
  table.on(
    'POST',
    '/webhooks/:id/test',
    {
      access: 'admin',
      operationId: 'testWebhook',
      summary: 'Send a webhook.test event',
      responses: { 202: { description: 'queued: the delivery id', json: z.strictObject({ deliveryId: z.string() }) } },
      errors: [404],
    },
    (c) => c.json(sendTestEvent(context, c.req.param('id'), actorOf(c)), 202),
  );
  table.on(
    'GET',
    '/webhooks/:id/deliveries',
    {
      access: 'read',
      operationId: 'listWebhookDeliveries',
      summary: "List a webhook's deliveries, newest first",
      query: timeAndIdQuery,
      responses: { 200: { description: 'one page of deliveries', json: pageBody('deliveries', deliveryBody) } },
      errors: [404],
    },
    (c) => c.json(webhookDeliveries(context, c.req.param('id'), parsePageQuery(timeAndIdQuery, c.req.query()))),
  );

  table.on(
    'GET',
    '/audit',
    {
      access: 'read',
      operationId: 'listAudit',
      summary: 'Read the audit log, newest first',
      query: integerIdQuery,
      responses: { 200: { description: 'one page of entries', json: pageBody('entries', auditEntryBody) } },
    },
    (c) => c.json(listAuditPage(context.db, parsePageQuery(integerIdQuery, c.req.query()))),
  );

  return table;
}
