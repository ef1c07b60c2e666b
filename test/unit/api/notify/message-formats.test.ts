import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evaluateStaleness } from '../../../../src/api/monitoring/staleness.js';
import { listDeliveries } from '../../../../src/api/notify/delivery-store.js';
import { createDeliveryWorker } from '../../../../src/api/notify/delivery-worker.js';
import { createHttpSender } from '../../../../src/api/notify/http-sender.js';
import { formatMessage } from '../../../../src/api/notify/message-formats.js';
import { enqueueEvent } from '../../../../src/api/notify/queue.js';
import { createWebhook } from '../../../../src/api/notify/webhooks.js';
import { applyRootReports } from '../../../../src/api/root-reports.js';
import { loadConfig } from '../../../../src/config.js';
import type { MessageFormat } from '../../../../src/domain/webhook-formats.js';
import { backupReport } from '../../../support/ended-sessions.js';
import { addHostRow } from '../../../support/host-rows.js';
import { makeTestContext, TEST_ENVIRONMENT, type TestContext } from '../../../support/test-context.js';

const HOUR_MS = 3600_000;
const LOOPBACK_ALLOWED = '127.0.0.0/8';
const HOST_PAGE = 'https://backup.example.test:8443/ui/hosts/web1';
/** What the stale web1 of these tests reads as: last backed up at the test's start, expecting one every 26 h. */
const STALE_TEXT = 'Host web1 has not backed up since 2026-03-02 10:00 UTC (expected every 1 d 2 h). Its last session: backup.';

interface Arrival {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * Checks a body as the service documents it, and answers as it does: Slack's incoming
 * webhooks (and Mattermost's, Rocket.Chat's) a JSON object with a string `text`; Discord's
 * execute webhook a JSON object whose `content` holds 1 to 2000 characters; ntfy a plain text
 * body, the message itself. Anything else gets a 400, as the service would answer.
 */
function isDocumentedShape(format: MessageFormat, arrival: Arrival): boolean {
  const contentType = String(arrival.headers['content-type']);
  if (format === 'ntfy') return arrival.method === 'POST' && contentType.startsWith('text/plain') && arrival.body.length > 0;
  if (arrival.method !== 'POST' || contentType !== 'application/json') return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(arrival.body);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null) return false;
  if (format === 'slack') return typeof (parsed as { text?: unknown }).text === 'string';
  const content = (parsed as { content?: unknown }).content;
  return typeof content === 'string' && content.length > 0 && content.length <= 2000;
}

/** A receiver on 127.0.0.1 that speaks like `format`'s service; `failFirst` arrivals are answered 503. */
async function startServiceReceiver(format: MessageFormat, failFirst = 0) {
  const arrivals: Arrival[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const arrival = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      arrivals.push(arrival);
      if (arrivals.length <= failFirst) {
        response.writeHead(503).end();
        return;
      }
      if (!isDocumentedShape(format, arrival)) {
        response.writeHead(400).end();
        return;
      }
      if (format === 'discord') response.writeHead(204).end();
      else if (format === 'slack') response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{"event":"message"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('message formats, delivered to loopback receivers', () => {
  let test: TestContext;
  let receivers: { close: () => Promise<void> }[];

  beforeEach(async () => {
    test = await makeTestContext({ config: loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_OUTGOING_ALLOW: LOOPBACK_ALLOWED }) });
    receivers = [];
  });
  afterEach(async () => {
    for (const receiver of receivers) await receiver.close();
  });

  async function receiverFor(format: MessageFormat, failFirst = 0) {
    const receiver = await startServiceReceiver(format, failFirst);
    receivers.push(receiver);
    const webhook = createWebhook(test.context, { url: `${receiver.url}/hook/token-123`, format }, { actor: 'admin:test' });
    return { ...receiver, webhook };
  }

  /** One pass of the delivery loop, with a sender that may call `allowed` (loopback, unless a test takes it away). */
  function deliverDue(allowed: string | null = LOOPBACK_ALLOWED): Promise<number> {
    return createDeliveryWorker({
      db: test.context.db,
      now: test.clock.now,
      send: createHttpSender({ allowed }),
      publicUrl: test.context.config.publicUrl,
      logger: { warn() {}, error() {} },
      retryScheduleMs: [1000],
    }).deliverDue();
  }

  /** web1 backs up at the test's start (as root reports it) and not again: 27 h later the staleness check raises host.stale, as the server does. */
  function makeWeb1Stale() {
    addHostRow(test.context.db, 'web1', test.clock.now());
    applyRootReports(test.context.db, [backupReport(1, 'web1', test.clock.now().getTime(), { repositoryBytes: 5000 })]);
    test.clock.advance(27 * HOUR_MS);
    expect(evaluateStaleness(test.context.db, test.clock.now()).stale).toEqual(['web1']);
  }

  function expectNoSignature(headers: IncomingHttpHeaders) {
    expect(Object.keys(headers).filter((name) => name.startsWith('webhook-'))).toEqual([]);
  }

  it('sends slack {"text"} with the host and its page, unsigned', async () => {
    const receiver = await receiverFor('slack');
    expect(receiver.webhook).toMatchObject({ format: 'slack', secret: null });
    makeWeb1Stale();
    expect(await deliverDue()).toBe(1);
    const [arrival] = receiver.arrivals;
    expect(arrival?.url).toBe('/hook/token-123');
    expect(arrival?.headers['content-type']).toBe('application/json');
    expect(arrival?.body).toBe(JSON.stringify({ text: `${STALE_TEXT}\n${HOST_PAGE}` }));
    expectNoSignature(arrival?.headers ?? {});
    expect(listDeliveries(test.context.db, receiver.webhook.id, { limit: 5 }).deliveries).toEqual([
      expect.objectContaining({ eventType: 'host.stale', host: 'web1', status: 'delivered', lastStatusCode: 200 }),
    ]);
  });

  it('sends discord {"content"} with the link unfurled by nobody and no mention parsed, unsigned', async () => {
    const receiver = await receiverFor('discord');
    makeWeb1Stale();
    expect(await deliverDue()).toBe(1);
    const [arrival] = receiver.arrivals;
    expect(arrival?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(arrival?.body ?? '')).toEqual({ content: `${STALE_TEXT}\n<${HOST_PAGE}>`, allowed_mentions: { parse: [] } });
    expectNoSignature(arrival?.headers ?? {});
    expect(listDeliveries(test.context.db, receiver.webhook.id, { limit: 5 }).deliveries[0]).toMatchObject({
      status: 'delivered',
      lastStatusCode: 204,
    });
  });

  it('sends ntfy a plain text body with Title, Tags and Click headers, unsigned', async () => {
    const receiver = await receiverFor('ntfy');
    makeWeb1Stale();
    expect(await deliverDue()).toBe(1);
    const [arrival] = receiver.arrivals;
    expect(arrival?.method).toBe('POST');
    expect(arrival?.body).toBe(STALE_TEXT);
    expect(arrival?.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      title: 'web1 is stale',
      tags: 'warning,host.stale',
      click: HOST_PAGE,
    });
    expectNoSignature(arrival?.headers ?? {});
    expect(listDeliveries(test.context.db, receiver.webhook.id, { limit: 5 }).deliveries[0]).toMatchObject({
      status: 'delivered',
      lastStatusCode: 200,
    });
  });

  it('links an enrollment.pending message to the enrollment on the page', async () => {
    const receiver = await receiverFor('ntfy');
    enqueueEvent(test.context.db, test.clock.now(), {
      type: 'enrollment.pending',
      host: 'web2',
      data: {
        enrollmentId: 'enr_abc',
        fingerprint: 'SHA256:abcdef',
        keyType: 'ssh-ed25519',
        sourceAddress: '198.51.100.7',
        conflict: false,
        expiresAt: '2026-03-03T10:00:00.000Z',
        approvalUrl: 'https://backup.example.test:8443/ui/enrollments/enr_abc',
      },
    });
    expect(await deliverDue()).toBe(1);
    expect(receiver.arrivals[0]?.headers).toMatchObject({
      title: 'web2 asks to enroll',
      tags: 'key,enrollment.pending',
      click: 'https://backup.example.test:8443/ui/enrollments/enr_abc',
    });
    expect(receiver.arrivals[0]?.body).toBe(
      'Host web2 asks to enroll with key ssh-ed25519 SHA256:abcdef from 198.51.100.7. Approve or deny it on the page before 2026-03-03 10:00 UTC.',
    );
  });

  it('sends text that would call everyone as plain text: escaped for slack, with no mention parsed for discord', async () => {
    const slack = await receiverFor('slack');
    const discord = await receiverFor('discord');
    enqueueEvent(test.context.db, test.clock.now(), {
      type: 'enrollment.denied',
      host: 'web3',
      data: { enrollmentId: 'enr_x', fingerprint: 'SHA256:x', reason: '<!channel> & @everyone', by: 'admin:abc' },
    });
    expect(await deliverDue()).toBe(2);
    const link = 'https://backup.example.test:8443/ui/enrollments/enr_x';
    expect(JSON.parse(slack.arrivals[0]?.body ?? '')).toEqual({
      text: `The enrollment of host web3 was denied by admin:abc: &lt;!channel&gt; &amp; @everyone\n${link}`,
    });
    expect(JSON.parse(discord.arrivals[0]?.body ?? '')).toEqual({
      content: `The enrollment of host web3 was denied by admin:abc: <!channel> & @everyone\n<${link}>`,
      allowed_mentions: { parse: [] },
    });
  });

  it('retries a message format as any webhook, with the same body', async () => {
    const receiver = await receiverFor('discord', 1);
    makeWeb1Stale();
    expect(await deliverDue()).toBe(1);
    expect(listDeliveries(test.context.db, receiver.webhook.id, { limit: 5 }).deliveries[0]).toMatchObject({
      status: 'pending',
      lastStatusCode: 503,
    });
    test.clock.advance(1000);
    expect(await deliverDue()).toBe(1);
    expect(listDeliveries(test.context.db, receiver.webhook.id, { limit: 5 }).deliveries[0]).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });
    expect(receiver.arrivals.map((arrival) => arrival.body)).toEqual([receiver.arrivals[0]?.body, receiver.arrivals[0]?.body]);
  });

  it('refuses a message format to a loopback receiver when no range is allowed, as any webhook', async () => {
    const receiver = await receiverFor('ntfy');
    makeWeb1Stale();
    expect(await deliverDue(null)).toBe(1);
    expect(receiver.arrivals).toEqual([]);
    expect(listDeliveries(test.context.db, receiver.webhook.id, { limit: 5 }).deliveries[0]).toMatchObject({
      status: 'failed',
      lastError: expect.stringMatching(/^refused: /),
    });
  });
});

describe('formatMessage', () => {
  const message = {
    title: 'web1 is stale',
    text: 'Host web1 is stale.',
    link: 'https://backup.example.test/ui/hosts/web1',
    tags: ['warning', 'host.stale'],
  };

  it('writes an ntfy header that is not printable ASCII as an RFC 2047 encoded word', () => {
    const { headers } = formatMessage('ntfy', { ...message, title: 'web1 – stale' });
    expect(headers.title).toBe(`=?UTF-8?B?${Buffer.from('web1 – stale').toString('base64')}?=`);
    expect(headers.click).toBe(message.link);
  });

  it('keeps a discord message within its 2000 characters, the link whole', () => {
    const { body } = formatMessage('discord', { ...message, text: 'x'.repeat(3000) });
    const { content } = JSON.parse(body) as { content: string };
    expect(content).toHaveLength(2000);
    expect(content.endsWith(`\n<${message.link}>`)).toBe(true);
  });
});
