import { createHmac } from 'node:crypto';
import { webhookSecretBytes } from './webhook-secret.js';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The Standard Webhooks headers for one attempt: `v1,` and the base64
 * HMAC-SHA256 of `id.timestamp.body` keyed with the secret's bytes. The
 * timestamp is the attempt's (receivers refuse old ones), the id the message's.
 */
export function signWebhook(secret: string, id: string, at: Date, body: string): SignedHeaders {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signature = createHmac('sha256', webhookSecretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
