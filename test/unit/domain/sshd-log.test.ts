import { describe, expect, it } from 'vitest';
import { parseAcceptedKeyLogin } from '../../../src/domain/sshd-log.js';

const FINGERPRINT = 'SHA256:RpfKdUzO1fXr6L442UlD+bqJwVsn1MnGTMXsL4uAx2E';

describe("sshd's log of a public-key login", () => {
  it('reads the account, the address and the fingerprint of the key sshd accepted', () => {
    expect(parseAcceptedKeyLogin(`Accepted publickey for web1 from 127.0.0.1 port 36596 ssh2: ED25519 ${FINGERPRINT}`)).toEqual({
      user: 'web1',
      address: '127.0.0.1',
      fingerprint: FINGERPRINT,
    });
    expect(parseAcceptedKeyLogin(`Accepted publickey for db-2 from 2001:db8::7 port 50000 ssh2: RSA ${FINGERPRINT}\r`)).toEqual({
      user: 'db-2',
      address: '2001:db8::7',
      fingerprint: FINGERPRINT,
    });
  });

  it('takes no other line for a login', () => {
    for (const line of [
      `Accepted key ED25519 ${FINGERPRINT} found at /srv/state/ssh/authorized_keys/web1:1`,
      `Failed publickey for web1 from 127.0.0.1 port 36596 ssh2: ED25519 ${FINGERPRINT}`,
      // A client's text quoted inside another line is not a line of its own.
      `Invalid user Accepted publickey for web1 from 127.0.0.1 port 1 ssh2: ED25519 ${FINGERPRINT}`,
      `Accepted publickey for web1 from 127.0.0.1 port 36596 ssh2: ED25519 ${FINGERPRINT} trailing`,
      `Accepted publickey for ../web1 from 127.0.0.1 port 36596 ssh2: ED25519 ${FINGERPRINT}`,
      'Accepted password for web1 from 127.0.0.1 port 36596 ssh2',
    ]) {
      expect(parseAcceptedKeyLogin(line), line).toBeNull();
    }
  });
});
