import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../../../src/api/notify/signature.js';
import { generateWebhookSecret, webhookSecretBytes } from '../../../../src/api/notify/webhook-secret.js';

describe('signWebhook', () => {
  it('gives the signature of the Standard Webhooks example', () => {
    const headers = signWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      new Date(1614265330 * 1000),
      '{"test": 2432232314}',
    );
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('signs what the standardwebhooks library verifies', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'webhook.test', timestamp: new Date().toISOString(), data: { a: 'ü' } });
    const headers = signWebhook(secret, 'msg_1', new Date(), body);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('is refused by the library for another secret or another body', () => {
    const body = '{"type":"webhook.test"}';
    const headers = { ...signWebhook(generateWebhookSecret(), 'msg_1', new Date(), body) };
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
    const secret = generateWebhookSecret();
    expect(() => new Webhook(secret).verify('{"type":"other"}', { ...signWebhook(secret, 'msg_1', new Date(), body) })).toThrow();
  });
});

describe('generateWebhookSecret', () => {
  it('makes whsec_ secrets of 32 random bytes, different each time', () => {
    const first = generateWebhookSecret();
    expect(first).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(webhookSecretBytes(first)).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(first);
  });
});
