import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { AppEnv } from '../app-env.js';
import type { ServerContext } from '../context.js';
import { createRouteTable } from './route-table.js';

export const ENROLL_SCRIPT_PATH = fileURLToPath(new URL('../../../container/enroll.sh', import.meta.url));

/** One of the server's SSH host keys, as the API publishes it. */
export const sshHostKeyBody = z.strictObject({ type: z.string(), key: z.string(), fingerprint: z.string() }).meta({ id: 'SshHostKey' });

/** What GET /v1/server answers: how to reach and trust the server. */
const serverBody = z
  .strictObject({
    sshHost: z.string(),
    sshPort: z.number().int(),
    publicUrl: z.string(),
    tlsPin: z.string().nullable().meta({ description: "the pin of the server's TLS key (curl --pinnedpubkey); null without TLS" }),
    sshHostKeys: z.array(sshHostKeyBody),
    knownHosts: z.array(z.string()),
  })
  .meta({ id: 'Server' });

/** known_hosts lines for the server's SSH host keys, as the VM should trust them. */
export function knownHostsLines(context: ServerContext): string[] {
  const { sshHost, sshPublicPort } = context.config;
  const hostPattern = sshPublicPort === 22 ? sshHost : `[${sshHost}]:${sshPublicPort}`;
  return context.readSshHostKeys().map((key) => `${hostPattern} ${key.type} ${key.key}`);
}

/** The enrollment script with this server's URL filled in. */
export function renderEnrollScript(template: string, publicUrl: string): string {
  if (/['\\\s]/.test(publicUrl)) throw new TypeError('public URL must not contain quotes, backslashes or spaces');
  return template.replace('@@SERVER_URL@@', publicUrl);
}

/** Public routes: health, the server's identity, the enrollment script. */
export function serverRoutes(context: ServerContext) {
  const table = createRouteTable<AppEnv>();
  const enrollScript = renderEnrollScript(readFileSync(ENROLL_SCRIPT_PATH, 'utf8'), context.config.publicUrl);

  // 503 with every fault's reason while one is present: the image's HEALTHCHECK and a load balancer read it.
  table.on('GET', '/healthz', 'public', (c) => {
    context.db.$client.prepare('select 1').get();
    const reasons = context.faults?.check() ?? [];
    if (reasons.length > 0) return c.json({ status: 'unhealthy', reasons }, 503);
    return c.json({ status: 'ok' });
  });

  table.on(
    'GET',
    '/v1/server',
    {
      access: 'public',
      operationId: 'getServer',
      summary: "The server's SSH address, host keys and TLS pin",
      responses: { 200: { description: 'how to reach and trust the server', json: serverBody } },
    },
    (c) =>
      c.json({
        sshHost: context.config.sshHost,
        sshPort: context.config.sshPublicPort,
        publicUrl: context.config.publicUrl,
        tlsPin: context.tlsIdentity()?.pin ?? null,
        sshHostKeys: context.readSshHostKeys(),
        knownHosts: knownHostsLines(context),
      }),
  );

  table.on('GET', '/enroll.sh', 'public', (c) => c.body(enrollScript, 200, { 'content-type': 'text/x-shellscript; charset=utf-8' }));

  return table;
}
