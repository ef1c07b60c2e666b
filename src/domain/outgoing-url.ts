import { AppError } from '../errors.js';

export const MAX_OUTGOING_URL_LENGTH = 2048;

/**
 * An admin-given URL the server calls (a webhook, a ping URL): http or https,
 * no user name or password in it (they would end up in logs and listings).
 * Returns the URL as the WHATWG parser normalises it.
 */
export function parseOutgoingUrl(value: unknown): string {
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
  return url.href;
}

/** What may be logged of such a URL: its scheme, host and port (paths often carry a token). */
export function urlOrigin(value: string): string {
  return new URL(value).origin;
}
