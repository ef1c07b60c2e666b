import { DEFAULT_EVENT_TYPES, EVENT_TYPES } from '../../../domain/notification-events.js';
import { WEBHOOK_FORMATS, type WebhookFormat } from '../../../domain/webhook-formats.js';
import type { DeliveryView } from '../../notify/delivery-store.js';
import type { CreatedWebhook, WebhookView } from '../../notify/webhooks.js';
import { Badge, Cell, DataTable, Pager, When } from './components.js';
import { ActionButton, CsrfField, Layout, mayPost, type PageFrame } from './layout.js';

type Frame = PageFrame & { csrfToken: string };

/** What each format sends, as the form offers it. */
const FORMAT_LABELS: Record<WebhookFormat, string> = {
  standard: 'Standard Webhooks (signed JSON, for a program)',
  slack: 'Slack, Mattermost, Rocket.Chat (a message)',
  discord: 'Discord (a message)',
  ntfy: 'ntfy (a push notification)',
};

export function WebhooksPage({
  frame,
  webhooks,
  created,
  now,
}: {
  frame: Frame;
  webhooks: WebhookView[];
  created?: CreatedWebhook | undefined;
  now: Date;
}) {
  return (
    <Layout {...frame}>
      {created?.secret && (
        <section class="card" id="created-webhook">
          <h2>Signing secret of {created.url}</h2>
          <p class="muted">Shown only now. The receiver checks each delivery's signature with it (Standard Webhooks).</p>
          <pre>
            <code id="webhook-secret">{created.secret}</code>
          </pre>
          <button type="button" data-copy="webhook-secret">
            Copy
          </button>
        </section>
      )}
      <DataTable columns={['Receiver', 'Format', 'Events', 'Added', '']} empty="No webhook yet.">
        {webhooks.map((webhook) => (
          <tr data-webhook={webhook.id}>
            <Cell label="Receiver">
              <a href={`/ui/webhooks/${webhook.id}`}>{webhook.url}</a> {webhook.disabled && <Badge value="disabled" />}
            </Cell>
            <Cell label="Format">{webhook.format}</Cell>
            <Cell label="Events">{webhook.events.join(', ')}</Cell>
            <Cell label="Added">
              <When at={webhook.createdAt} now={now} />
            </Cell>
            <Cell label="">
              {mayPost(frame) && (
                <>
                  <ActionButton action={`/ui/webhooks/${webhook.id}/test`} csrfToken={frame.csrfToken} label="Send test event" />
                  <ActionButton action={`/ui/webhooks/${webhook.id}/remove`} csrfToken={frame.csrfToken} label="Remove" danger />
                </>
              )}
            </Cell>
          </tr>
        ))}
      </DataTable>
      {mayPost(frame) && (
        <>
          <h2>Add a webhook</h2>
          <form method="post" action="/ui/webhooks" class="stack" id="add-webhook">
            <CsrfField token={frame.csrfToken} />
            <label>
              URL (https://…)
              <input type="url" name="url" required maxlength={2048} />
            </label>
            <label>
              Format
              <select name="format">
                {WEBHOOK_FORMATS.map((format) => (
                  <option value={format}>{FORMAT_LABELS[format]}</option>
                ))}
              </select>
            </label>
            <fieldset>
              <legend>Events</legend>
              {EVENT_TYPES.map((type) => (
                <label class="check">
                  <input type="checkbox" name="events" value={type} checked={DEFAULT_EVENT_TYPES.includes(type)} /> {type}
                </label>
              ))}
            </fieldset>
            <button type="submit">Add webhook</button>
          </form>
        </>
      )}
    </Layout>
  );
}

export function DeliveriesPage({
  frame,
  webhook,
  deliveries,
  older,
  now,
}: {
  frame: Frame;
  webhook: WebhookView;
  deliveries: DeliveryView[];
  older?: string | undefined;
  now: Date;
}) {
  return (
    <Layout {...frame}>
      <p>
        To <code>{webhook.url}</code> ({webhook.format}): {webhook.events.join(', ')}
      </p>
      {mayPost(frame) && <ActionButton action={`/ui/webhooks/${webhook.id}/test`} csrfToken={frame.csrfToken} label="Send test event" />}
      <h2>Deliveries</h2>
      <DataTable columns={['Event', 'Host', 'Status', 'Attempts', 'Last answer', 'Queued']} empty="Nothing sent yet.">
        {deliveries.map((delivery) => (
          <tr data-delivery={delivery.id}>
            <Cell label="Event">{delivery.eventType}</Cell>
            <Cell label="Host">{delivery.host ?? ''}</Cell>
            <Cell label="Status">
              <Badge value={delivery.status} />
              {delivery.nextAttemptAt && delivery.status !== 'delivered' && (
                <>
                  {' '}
                  next try <When at={delivery.nextAttemptAt} now={now} />
                </>
              )}
            </Cell>
            <Cell label="Attempts">{delivery.attempts}</Cell>
            <Cell label="Last answer">{delivery.lastStatusCode ?? delivery.lastError ?? ''}</Cell>
            <Cell label="Queued">
              <When at={delivery.createdAt} now={now} />
            </Cell>
          </tr>
        ))}
      </DataTable>
      <Pager older={older} />
    </Layout>
  );
}
