import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage } from '../support/browser.js';
import { LOOPBACK_RECEIVERS_ALLOWED, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The real `borgctl serve`: its API process (the unprivileged API user) sends
 * signed webhooks to a receiver on 127.0.0.1, which verifies each with the
 * standardwebhooks library.
 */

interface Received {
  id: string;
  verified: boolean;
  payload: { type: string; data: Record<string, unknown> } | null;
}

function startReceiver(secret: () => string) {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let payload: Received['payload'] = null;
      try {
        payload = new Webhook(secret()).verify(body, request.headers as Record<string, string>) as Received['payload'];
      } catch {
        // Recorded as unverified.
      }
      received.push({ id: String(request.headers['webhook-id']), verified: payload !== null, payload });
      response.writeHead(payload === null ? 401 : 200).end();
    });
  });
  return new Promise<{ url: string; received: Received[]; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/borg-events`, received, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

describe('webhooks from the real server', () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let secret = '';

  beforeEach(async () => {
    receiver = await startReceiver(() => secret);
    server = await startServerSandbox({}, LOOPBACK_RECEIVERS_ALLOWED);
    client = await createBorgClient('web1');
  });

  afterEach(async (context) => {
    await client?.remove();
    await stopServerSandbox(server, context);
    await receiver?.close();
  });

  it('sends signed enrollment events (pending with fingerprint and approval link, approved) as a VM enrolls over HTTP; the link opens the enrollment in a browser after login', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const hooks = receiver as NonNullable<typeof receiver>;
    const created = await api.request<{ id: string; secret: string }>('POST', '/v1/admin/webhooks', {
      body: { url: hooks.url },
      bearer: api.adminToken,
    });
    expect(created.status).toBe(201);
    secret = created.body.secret;

    const { token } = await api.mintEnrollmentToken();
    const enrollment = await api.enroll(token, 'web1', (client as BorgClient).publicKey);
    const pending = await waitFor('the enrollment.pending webhook', () =>
      hooks.received.find((entry) => entry.payload?.type === 'enrollment.pending'),
    );
    expect(pending.verified).toBe(true);
    expect(pending.payload?.data).toMatchObject({
      host: 'web1',
      enrollmentId: enrollment.id,
      fingerprint: (client as BorgClient).fingerprint,
      approvalUrl: `${sandbox.baseUrl}/ui/enrollments/${enrollment.id}`,
    });

    // `borgctl webhooks test` queues from the admin's process; the server's loop sends it.
    const test = await sandbox.borgctl(['webhooks', 'test', created.body.id]);
    expect(test.exitCode).toBe(0);
    const tested = await waitFor('the webhook.test event', () => hooks.received.find((entry) => entry.payload?.type === 'webhook.test'));
    expect(tested.verified).toBe(true);

    const log = await waitFor('both deliveries logged as delivered', async () => {
      const listed = await sandbox.borgctl(['webhooks', 'deliveries', created.body.id, '--json']);
      const deliveries = JSON.parse(listed.stdout) as { id: string; status: string; lastStatusCode: number }[];
      return deliveries.length === 2 && deliveries.every((entry) => entry.status === 'delivered') ? deliveries : undefined;
    });
    expect(log.map((entry) => entry.id).sort()).toEqual([pending.id, tested.id].sort());
    expect(hooks.received).toHaveLength(2);

    // The admin follows the approval link in chromium: the page asks for the login, then shows this enrollment, approved there.
    const approvalUrl = String(pending.payload?.data.approvalUrl);
    const browser = await launchBrowser();
    try {
      const admin = await openWatchedPage(browser, sandbox.baseUrl);
      await admin.page.goto(approvalUrl);
      await admin.page.getByLabel('Admin token').fill(api.adminToken);
      await admin.page.getByRole('button', { name: 'Log in' }).click();
      await admin.page.waitForURL(approvalUrl);
      const card = admin.page.locator(`article.enrollment[data-enrollment-id="${enrollment.id}"]`);
      expect(await card.locator('code.fingerprint').textContent()).toBe((client as BorgClient).fingerprint);
      await card.getByLabel('Confirm the fingerprint').fill((client as BorgClient).fingerprint);
      await card.getByRole('button', { name: 'Approve' }).click();
      await admin.page.waitForURL(`${sandbox.baseUrl}/ui/hosts/web1?notice=approved`);
      expect(admin.problems).toEqual([]);
    } finally {
      await browser.close();
    }
    // enrollment.approved follows; the host gets a ping URL with the CLI.
    const approved = await waitFor('the enrollment.approved webhook', () =>
      hooks.received.find((entry) => entry.payload?.type === 'enrollment.approved'),
    );
    expect(approved).toMatchObject({ verified: true, payload: { data: { host: 'web1', enrollmentId: enrollment.id } } });
    const pingUrl = `${hooks.url}/ping/5bf66975`;
    expect((await sandbox.borgctl(['hosts', 'set', 'web1', '--ping-url', pingUrl])).exitCode).toBe(0);
    expect(JSON.parse((await sandbox.borgctl(['hosts', 'show', 'web1', '--json'])).stdout)).toEqual([expect.objectContaining({ pingUrl })]);
    expect(
      (await sandbox.borgctl(['hosts', 'set', 'web1', '--ping-url', 'https://u:p@example.test/'], { reject: false })).exitCode,
    ).not.toBe(0);

    // The secret was shown once: neither the list nor the server's log repeat it.
    const listed = await sandbox.borgctl(['webhooks', 'list', '--json']);
    expect(listed.stdout).toContain(created.body.id);
    expect(listed.stdout + (sandbox.server?.output() ?? '')).not.toContain(secret.slice(6));
    expect(sandbox.server?.output()).not.toContain('5bf66975');
    expect(hooks.received.every((entry) => entry.verified)).toBe(true);
    expect(hooks.received).toHaveLength(3);
  });
});
