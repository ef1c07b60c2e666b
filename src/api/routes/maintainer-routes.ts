import { z } from 'zod';
import { MAX_HOSTS_PER_CHANGE } from '../../channel/maintainer-change.js';
import type { AppEnv } from '../app-env.js';
import type { ServerContext } from '../context.js';
import {
  addMaintainer,
  getMaintainer,
  grantMaintainer,
  listMaintainers,
  removeMaintainer,
  revokeMaintainer,
} from '../maintainers/maintainers.js';
import { jsonBody } from '../middleware/json-body.js';
import { actorOf } from './admin-routes.js';
import { createRouteTable } from './route-table.js';

const maintainerBody = z.strictObject({
  name: z.string().max(64),
  publicKey: z.string().max(16_384),
  allowFrom: z.string().max(1024),
});

/** `{ hosts: [...] }`, `{ all: true }`, or both. */
const selectionBody = z.strictObject({
  hosts: z.array(z.string().max(64)).max(MAX_HOSTS_PER_CHANGE).optional(),
  all: z.boolean().optional(),
});

/** /v1/admin/maintainers: trusted machines that prune while every VM stays append-only; every change needs the admin role. */
export function maintainerRoutes(context: ServerContext) {
  const table = createRouteTable<AppEnv>();
  const selectionOf = (body: z.infer<typeof selectionBody>) => ({ hosts: body.hosts ?? [], all: body.all ?? false });

  table.on('GET', '/', 'read', (c) => c.json({ maintainers: listMaintainers(context) }));
  table.on('POST', '/', 'admin', jsonBody(maintainerBody), async (c) =>
    c.json(await addMaintainer(context, c.req.valid('json'), actorOf(c)), 201),
  );
  table.on('GET', '/:name', 'read', (c) => c.json(getMaintainer(context, c.req.param('name'))));
  table.on('POST', '/:name/grant', 'admin', jsonBody(selectionBody), async (c) =>
    c.json(await grantMaintainer(context, c.req.param('name'), selectionOf(c.req.valid('json')), actorOf(c))),
  );
  table.on('POST', '/:name/revoke', 'admin', jsonBody(selectionBody), async (c) =>
    c.json(await revokeMaintainer(context, c.req.param('name'), selectionOf(c.req.valid('json')), actorOf(c))),
  );
  table.on('DELETE', '/:name', 'admin', async (c) => {
    await removeMaintainer(context, c.req.param('name'), actorOf(c));
    return c.json({ name: c.req.param('name'), status: 'removed' });
  });
  return table;
}
