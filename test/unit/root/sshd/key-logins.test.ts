import { describe, expect, it } from 'vitest';
import { createKeyLogins } from '../../../../src/root/sshd/key-logins.js';

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6, 10, 0, seconds));
const login = (user: string, fingerprint: string, address = '127.0.0.1') => ({ user, address, fingerprint });

describe('the logins sshd logged, until a session takes them', () => {
  it("gives an account's logins up to a moment once, leaving later ones and other accounts'", () => {
    const logins = createKeyLogins();
    logins.record(login('web1', 'SHA256:a', '::ffff:192.0.2.7'), at(1));
    logins.record(login('db1', 'SHA256:b'), at(2));
    logins.record(login('web1', 'SHA256:c'), at(3));
    expect(logins.take('web1', at(2))).toEqual([{ address: '192.0.2.7', fingerprint: 'SHA256:a', at: at(1) }]);
    expect(logins.take('web1', at(2))).toEqual([]);
    expect(logins.take('web1', at(5)).map((taken) => taken.fingerprint)).toEqual(['SHA256:c']);
    expect(logins.take('db1', at(5)).map((taken) => taken.fingerprint)).toEqual(['SHA256:b']);
  });

  it('keeps a bounded number per account, and forgets old ones', () => {
    const logins = createKeyLogins({ maxPerAccount: 2, maxAgeMs: 10_000 });
    for (let second = 0; second < 5; second += 1) logins.record(login('web1', `SHA256:${second}`), at(second));
    expect(logins.take('web1', at(5)).map((taken) => taken.fingerprint)).toEqual(['SHA256:3', 'SHA256:4']);
    logins.record(login('web1', 'SHA256:old'), at(0));
    logins.record(login('web1', 'SHA256:new'), at(30));
    expect(logins.take('web1', at(30)).map((taken) => taken.fingerprint)).toEqual(['SHA256:new']);
  });

  it('records no login whose address is not one', () => {
    const logins = createKeyLogins();
    logins.record(login('web1', 'SHA256:a', 'not-an-address'), at(1));
    expect(logins.take('web1', at(2))).toEqual([]);
  });
});
