import type { Command } from 'commander';
import { timeAndIdKey } from '../../api/list-pages.js';
import { createWebhook, listWebhookPage, removeWebhook, sendTestEvent, webhookDeliveries } from '../../api/notify/webhooks.js';
import { WEBHOOK_FORMATS } from '../../domain/webhook-formats.js';
import { CLI_ACTOR, openCliContext } from '../cli-context.js';
import { addPageSizeOption, parsePageSize, readEveryPage } from '../every-page.js';
import { printOutcome, printRows, printSecret } from '../output.js';

export function addWebhookCommands(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description('event notifications: signed (Standard Webhooks), or messages for Slack, Mattermost, Rocket.Chat, Discord, ntfy');
  webhooks
    .command('add <url>')
    .description("send events to this URL; a standard webhook's signing secret is printed once, alone on the last line")
    .option('--events <types>', 'comma-separated event types (default: all but backup.completed)')
    .option(
      '--format <format>',
      `${WEBHOOK_FORMATS.join(', ')}: standard sends signed JSON; slack (also Mattermost, Rocket.Chat), discord and ntfy a short message`,
      'standard',
    )
    .option('--json', 'print JSON: the webhook, with its signing secret for a standard one')
    .action(async (url: string, options: { events?: string; format: string; json?: boolean }) => {
      const context = await openCliContext();
      const events = options.events?.split(',').map((type) => type.trim());
      const created = createWebhook(context, { url, events, format: options.format }, CLI_ACTOR);
      if (created.secret === null) {
        printOutcome(
          options.json ?? false,
          created,
          `Webhook ${created.id} (${created.format}) for ${created.events.join(', ')}. Its messages are not signed.`,
        );
        return;
      }
      printSecret(
        `Webhook ${created.id} for ${created.events.join(', ')}. Its signing secret is shown only now; give it to the receiver:`,
        created.secret,
        options.json ? created : undefined,
      );
    });
  addPageSizeOption(webhooks.command('list').description('every webhook, oldest first').option('--json', 'print JSON')).action(
    async (options: { json?: boolean; pageSize: string }) => {
      const pageSize = parsePageSize(options.pageSize);
      const context = await openCliContext();
      const listed = readEveryPage((request) => listWebhookPage(context, request), 'webhooks', timeAndIdKey, pageSize);
      if (options.json) {
        printRows(listed as unknown as Record<string, unknown>[], [], true);
        return;
      }
      const rows = listed.map((webhook) => ({ ...webhook, events: webhook.events.join(',') }));
      printRows(rows, ['id', 'url', 'format', 'events', 'disabled', 'createdAt'], false);
    },
  );
  webhooks
    .command('remove <id>')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      removeWebhook(context, id, CLI_ACTOR);
      printOutcome(options.json ?? false, { id, status: 'removed' }, `webhook ${id} removed`);
    });
  webhooks
    .command('test <id>')
    .description('queue a webhook.test event for it (the running server sends it)')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      const { deliveryId } = sendTestEvent(context, id, CLI_ACTOR);
      printOutcome(options.json ?? false, { id, deliveryId }, `queued ${deliveryId}; see it with: borgctl webhooks deliveries ${id}`);
    });
  addPageSizeOption(
    webhooks.command('deliveries <id>').description('the whole delivery log, newest first').option('--json', 'print JSON'),
  ).action(async (id: string, options: { json?: boolean; pageSize: string }) => {
    const pageSize = parsePageSize(options.pageSize);
    const context = await openCliContext();
    printRows(
      readEveryPage((request) => webhookDeliveries(context, id, request), 'deliveries', timeAndIdKey, pageSize) as unknown as Record<
        string,
        unknown
      >[],
      ['id', 'eventType', 'host', 'status', 'attempts', 'lastStatusCode', 'lastError', 'createdAt', 'deliveredAt', 'nextAttemptAt'],
      options.json ?? false,
    );
  });
}
