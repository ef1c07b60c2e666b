import type { Command } from 'commander';
import { createWebhook, listWebhooks, removeWebhook, sendTestEvent, webhookDeliveries } from '../../api/notify/webhooks.js';
import { WEBHOOK_FORMATS } from '../../domain/webhook-formats.js';
import { AppError } from '../../errors.js';
import { CLI_ACTOR, openCliContext } from '../cli-context.js';
import { printRows, printSecret } from '../output.js';

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
    .action(async (url: string, options: { events?: string; format: string }) => {
      const context = await openCliContext();
      const events = options.events?.split(',').map((type) => type.trim());
      const created = createWebhook(context, { url, events, format: options.format }, CLI_ACTOR);
      if (created.secret === null) {
        process.stderr.write(`Webhook ${created.id} (${created.format}) for ${created.events.join(', ')}. Its messages are not signed.\n`);
        return;
      }
      printSecret(
        `Webhook ${created.id} for ${created.events.join(', ')}. Its signing secret is shown only now; give it to the receiver:`,
        created.secret,
      );
    });
  webhooks
    .command('list')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const context = await openCliContext();
      const rows = listWebhooks(context).map((webhook) => ({ ...webhook, events: webhook.events.join(',') }));
      printRows(rows, ['id', 'url', 'format', 'events', 'disabled', 'createdAt'], options.json ?? false);
    });
  webhooks.command('remove <id>').action(async (id: string) => {
    const context = await openCliContext();
    removeWebhook(context, id, CLI_ACTOR);
    process.stderr.write(`webhook ${id} removed\n`);
  });
  webhooks
    .command('test <id>')
    .description('queue a webhook.test event for it (the running server sends it)')
    .action(async (id: string) => {
      const context = await openCliContext();
      const { deliveryId } = sendTestEvent(context, id, CLI_ACTOR);
      process.stderr.write(`queued ${deliveryId}; see it with: borgctl webhooks deliveries ${id}\n`);
    });
  webhooks
    .command('deliveries <id>')
    .description('the delivery log, newest first')
    .option('--limit <count>', 'how many (1 to 1000)', '20')
    .option('--before <delivery>', 'start after this delivery id (the next page)')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { limit: string; before?: string; json?: boolean }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new AppError('BAD_REQUEST', '--limit must be a whole number from 1 to 1000');
      const context = await openCliContext();
      printRows(
        webhookDeliveries(context, id, { limit, ...(options.before === undefined ? {} : { before: options.before }) }) as unknown as Record<
          string,
          unknown
        >[],
        ['id', 'eventType', 'host', 'status', 'attempts', 'lastStatusCode', 'lastError', 'createdAt', 'deliveredAt', 'nextAttemptAt'],
        options.json ?? false,
      );
    });
}
