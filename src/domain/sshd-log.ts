/**
 * One public-key login as sshd logs it at LogLevel VERBOSE (its standard
 * error with -e): `Accepted publickey for USER from ADDRESS port PORT ssh2:
 * TYPE SHA256:…`. The user is an account sshd knows and the fingerprint the
 * key it accepted: neither is the client's text.
 */
export interface AcceptedKeyLogin {
  user: string;
  address: string;
  fingerprint: string;
}

const ACCEPTED_KEY_LOGIN =
  /^Accepted publickey for ([a-z0-9][a-z0-9-]{0,63}) from ([0-9A-Fa-f.:]+) port \d+ ssh2: \S+ (SHA256:[A-Za-z0-9+/]{43})$/;

/** The login a line of sshd's log tells of, or null for any other line. */
export function parseAcceptedKeyLogin(line: string): AcceptedKeyLogin | null {
  const match = ACCEPTED_KEY_LOGIN.exec(line.trimEnd());
  if (!match) return null;
  return { user: match[1] as string, address: match[2] as string, fingerprint: match[3] as string };
}
