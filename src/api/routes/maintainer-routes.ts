import { z } from 'zod';
import { MAX_HOSTS_PER_CHANGE } from '../../channel/maintainer-change.js';
import type { AppEnv } from '../app-env.js';
import type { ServerContext } from '../context.js';
import {
  addMaintainer,
  getMaintainer,
  grantMaintainer,
  listMaintainers,
  maintainerBody,
  removeMaintainer,
  revokeMaintainer,
} from '../maintainers/maintainers.js';
import { jsonBody } from '../middleware/json-body.js';
import { actorOf } from './admin-routes.js';
import { createRouteTable } from './route-table.js';

const maintainerRequestBody = z.strictObject({
  name: z.string().max(64),
  publicKey: z.string().max(16_384),
  allowFrom: z.string().max(1024),
});

/** `{ hosts: [...] }`, `{ all: true }`, or both. */
const selectionBody = z.strictObject({
  hosts: z.array(z.string().max(64)).max(MAX_HOSTS_PER_CHANGE).optional(),
  all: z.boolean().optional(),
});

const removedBody = z.strictObject({ name: z.string(), status: z.literal('removed') });

/** /v1/admin/maintainers: trusted machines that prune while every VM stays append-only; every change needs the admin role. */
export function maintainerRoutes(context: ServerContext) {
  const table = createRouteTable<AppEnv>();
  const selectionOf = (body: z.infer<typeof selectionBody>) => ({ hosts: body.hosts ?? [], all: body.all ?? false });

  table.on(
    'GET',
    '/',
    {
      access: 'read',
      operationId: 'listMaintainers',
      summary: 'List maintainers by name',
      responses: { 200: { description: 'every maintainer', json: z.strictObject({ maintainers: z.array(maintainerBody) }) } },
    },
    (c) => c.json({ maintainers: listMaintainers(context) }),
  );
  table.on(
    'POST',
    '/',
    {
      access: 'admin',
      operationId: 'addMaintainer',
      summary: "Register a maintainer's key (or give a registered one a new key and range)",
      body: maintainerRequestBody,
      responses: { 201: { description: 'the maintainer', json: maintainerBody } },
      errors: [409],
    },
    jsonBody(maintainerRequestBody),
    async (c) => c.json(await addMaintainer(context, c.req.valid('json'), actorOf(c)), 201),
  );
  table.on(
    'GET',
    '/:name',
    {
      access: 'read',
      operationId: 'getMaintainer',
      summary: 'Show a maintainer',
      responses: { 200: { description: 'the maintainer', json: maintainerBody } },
      errors: [404],
    },
    (c) => c.json(getMaintainer(context, c.req.param('name'))),
  );
  table.on(
    'POST',
    '/:name/grant',
    {
      access: 'admin',
      operationId: 'grantMaintainer',
      summary: 'Let a maintainer reach hosts',
      body: selectionBody,
      responses: { 200: { description: 'the maintainer as it is now', json: maintainerBody } },
      errors: [404],
    },
    jsonBody(selectionBody),
    async (c) => c.json(await grantMaintainer(context, c.req.param('name'), selectionOf(c.req.valid('json')), actorOf(c))),
  );
  table.on(
    'POST',
    '/:name/revoke',
    {
      access: 'admin',
      operationId: 'revokeMaintainer',
      summary: "Take a maintainer's access to hosts back",
      body: selectionBody,
      responses: { 200: { description: 'the maintainer as it is now', json: maintainerBody } },
      errors: [404],
    },
    jsonBody(selectionBody),
    async (c) => c.json(await revokeMaintainer(context, c.req.param('name'), selectionOf(c.req.valid('json')), actorOf(c))),
  );
  table.on(
    'DELETE',
    '/:name',
    {
      access: 'admin',
      operationId: 'removeMaintainer',
      summary: 'Forget a maintainer and every grant',
      responses: { 200: { description: 'removed', json: removedBody } },
      errors: [400, 404],
    },
    async (c) => {
      await removeMaintainer(context, c.req.param('name'), actorOf(c));
      return c.json({ name: c.req.param('name'), status: 'removed' });
    },
  );
  return table;
}
