import { isIP } from 'node:net';
import { AppError } from '../errors.js';
import { destinationRefusal, isLoopbackName } from './outgoing-destinations.js';

export const MAX_OUTGOING_URL_LENGTH = 2048;

/**
 * An admin-given URL the server calls (a webhook, a ping URL): http or https,
 * no user name or password in it (they would end up in logs and listings).
 * Returns the URL as the WHATWG parser normalises it. A URL whose host is an
 * address the server would refuse to connect to (loopback, private, link-local…,
 * see destinationRefusal; `allowed` is BORG_SERVER_OUTGOING_ALLOW), or `localhost`,
 * is refused here already; the check that counts is made on the address connected
 * to (src/api/notify/http-sender.ts), since a name can resolve anywhere later.
 */
export function parseOutgoingUrl(value: unknown, allowed: string | null): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_OUTGOING_URL_LENGTH) {
    throw new AppError('INVALID_URL', `a URL must be a string of 1 to ${MAX_OUTGOING_URL_LENGTH} characters`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError('INVALID_URL', 'not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('INVALID_URL', 'the URL must be http:// or https://');
  if (url.username !== '' || url.password !== '') {
    throw new AppError('INVALID_URL', 'the URL must not contain a user name or password');
  }
  if (url.hash !== '') throw new AppError('INVALID_URL', 'the URL must not have a #fragment');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const address = isIP(host) !== 0 ? host : isLoopbackName(host) ? '127.0.0.1' : null;
  const refusal = address === null ? null : destinationRefusal(address, allowed);
  if (refusal !== null) {
    throw new AppError(
      'URL_NOT_ALLOWED',
      `the URL is refused: ${refusal}; the server calls only public addresses, unless BORG_SERVER_OUTGOING_ALLOW names the range`,
    );
  }
  return url.href;
}

/** What may be logged of such a URL: its scheme, host and port (paths often carry a token). */
export function urlOrigin(value: string): string {
  return new URL(value).origin;
}
