import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOOPBACK_RECEIVERS_ALLOWED, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { createKeyDirectory, type KeyDirectory } from '../support/ssh-keys.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The real `borgctl serve` sends a webhook's events in the format chosen with
 * `borgctl webhooks add --format` (or the API's `format`): here to receivers on
 * 127.0.0.1 that record what an ntfy server and a Discord webhook would get.
 */

interface Arrival {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function startReceiver() {
  const arrivals: Arrival[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      arrivals.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(request.url === '/discord' ? 204 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('webhook formats from the real server', () => {
  let server: ServerSandbox | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let keys: KeyDirectory | undefined;

  beforeEach(async () => {
    receiver = await startReceiver();
    keys = createKeyDirectory();
    server = await startServerSandbox({}, LOOPBACK_RECEIVERS_ALLOWED);
  });

  afterEach(async (context) => {
    await stopServerSandbox(server, context);
    await receiver?.close();
    keys?.remove();
  });

  it('sends an ntfy push (added with borgctl --format ntfy) and a Discord message (added over the API) of a real enrollment, linking to it', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const hooks = receiver as NonNullable<typeof receiver>;
    const added = await sandbox.borgctl([
      'webhooks',
      'add',
      `${hooks.url}/borg-alerts`,
      '--format',
      'ntfy',
      '--events',
      'enrollment.pending',
    ]);
    expect(added.exitCode).toBe(0);
    expect(added.stdout).toBe('');
    expect(added.stderr).toMatch(/\(ntfy\) for enrollment\.pending\. Its messages are not signed\./);
    const discord = await api.request<{ id: string; format: string; secret: string | null }>('POST', '/v1/admin/webhooks', {
      body: { url: `${hooks.url}/discord`, format: 'discord', events: ['enrollment.pending'] },
      bearer: api.adminToken,
    });
    expect(discord.status).toBe(201);
    expect(discord.body).toMatchObject({ format: 'discord', secret: null });
    const listed = JSON.parse((await sandbox.borgctl(['webhooks', 'list', '--json'])).stdout) as { format: string }[];
    expect(listed.map((webhook) => webhook.format).sort()).toEqual(['discord', 'ntfy']);

    const key = (keys as KeyDirectory).generate('web1', 'ed25519');
    const { token } = await api.mintEnrollmentToken();
    const enrollment = await api.enroll(token, 'web1', key.publicKey);
    await waitFor('both messages', () => (hooks.arrivals.length === 2 ? true : undefined));
    const approvalUrl = `${sandbox.baseUrl}/ui/enrollments/${enrollment.id}`;
    const text = new RegExp(
      `^Host web1 asks to enroll with key ssh-ed25519 ${key.fingerprint.replace(/[+/]/g, '\\$&')} from [0-9a-f.:]+\\. ` +
        'Approve or deny it on the page before \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\.$',
    );

    const push = hooks.arrivals.find((arrival) => arrival.path === '/borg-alerts');
    expect(push?.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      title: 'web1 asks to enroll',
      tags: 'key,enrollment.pending',
      click: approvalUrl,
    });
    expect(push?.body).toMatch(text);
    const message = JSON.parse(hooks.arrivals.find((arrival) => arrival.path === '/discord')?.body ?? '{}') as {
      content: string;
      allowed_mentions: unknown;
    };
    expect(message.allowed_mentions).toEqual({ parse: [] });
    expect(message.content.endsWith(`\n<${approvalUrl}>`)).toBe(true);
    expect(message.content.slice(0, -(approvalUrl.length + 3))).toMatch(text);
    for (const arrival of hooks.arrivals) expect(Object.keys(arrival.headers).filter((name) => name.startsWith('webhook-'))).toEqual([]);
  });

  it('refuses an unknown format with a message and a non-zero exit, and adds nothing', async () => {
    const { sandbox } = server as ServerSandbox;
    const result = await sandbox.borgctl(['webhooks', 'add', `${(receiver as NonNullable<typeof receiver>).url}/x`, '--format', 'teams'], {
      reject: false,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/unknown webhook format "teams": give one of standard, slack, discord, ntfy/);
    expect(JSON.parse((await sandbox.borgctl(['webhooks', 'list', '--json'])).stdout)).toEqual([]);
  });
});
