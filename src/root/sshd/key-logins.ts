import ipaddr from 'ipaddr.js';
import type { AcceptedKeyLogin } from '../../domain/sshd-log.js';

export interface KeyLogin {
  address: string;
  fingerprint: string;
  at: Date;
}

/**
 * The logins sshd logged, by account, until a session of that account takes
 * them: which key opened a session whose command no look saw (it ran between
 * two looks) and where from. Bounded: the oldest logins of an account go first.
 */
export interface KeyLogins {
  record(login: AcceptedKeyLogin, at: Date): void;
  /** The account's logins up to `until`, taken out: each belongs to the session that ends now. */
  take(user: string, until: Date): KeyLogin[];
}

export function createKeyLogins({ maxPerAccount = 256, maxAgeMs = 15 * 60_000 } = {}): KeyLogins {
  const byAccount = new Map<string, KeyLogin[]>();
  return {
    record({ user, address, fingerprint }, at) {
      if (!ipaddr.isValid(address)) return;
      const logins = (byAccount.get(user) ?? []).filter((login) => at.getTime() - login.at.getTime() <= maxAgeMs);
      logins.push({ address: ipaddr.process(address).toString(), fingerprint, at });
      byAccount.set(user, logins.slice(-maxPerAccount));
    },
    take(user, until) {
      const logins = byAccount.get(user) ?? [];
      const taken = logins.filter((login) => login.at <= until);
      const left = logins.filter((login) => login.at > until);
      if (left.length === 0) byAccount.delete(user);
      else byAccount.set(user, left);
      return taken;
    },
  };
}
