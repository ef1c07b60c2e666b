import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { destinationRefusal } from '../../domain/outgoing-destinations.js';

/** One outgoing request of the delivery loop. */
export interface OutgoingRequest {
  method: 'POST' | 'GET';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** Sends a request and resolves to the response's status; rejects on a network error, a refused destination or a timeout. */
export type SendRequest = (request: OutgoingRequest) => Promise<number>;

/** A name's addresses, as dns.lookup gives them with `all: true`. */
export type ResolveName = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** The destination was refused before anything was sent: its message says which address and why. */
export class DestinationRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DestinationRefusedError';
  }
}

export interface HttpSenderOptions {
  /** BORG_SERVER_OUTGOING_ALLOW: ranges allowed besides public addresses (canonical list), or null. */
  allowed: string | null;
  /** How names are resolved; the system resolver (dns.lookup) unless a test gives another. */
  resolveName?: ResolveName;
}

const resolveWithSystem: ResolveName = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * The lookup the socket connects with: it resolves the name, drops every
 * address the server must not call, and hands on only the rest, so the check
 * is made on the very address connected to (a name that resolves to a public
 * address when the URL is saved and to 127.0.0.1 when it is called, DNS
 * rebinding, is refused then).
 */
function guardedLookup(allowed: string | null, resolveName: ResolveName): LookupFunction {
  return (hostname, options, callback) => {
    const wanted = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    resolveName(hostname).then(
      (resolved) => {
        const candidates = resolved.filter((entry) => wanted === 0 || entry.family === wanted);
        const refusals: string[] = [];
        const usable = candidates.filter((entry) => {
          const refusal = destinationRefusal(entry.address, allowed);
          if (refusal !== null) refusals.push(refusal);
          return refusal === null;
        });
        const [first] = usable;
        if (first === undefined) {
          const error = new DestinationRefusedError(
            refusals.length > 0 ? `refused: ${refusals.join(', ')}` : `refused: the name has no address to call`,
          );
          callback(error, options.all ? [] : '', 0);
          return;
        }
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, options.all ? [] : '', 0),
    );
  };
}

/**
 * The real sender: node:http(s) with the guarded lookup, a fresh connection
 * per request (no pooled socket that another check let through), no redirects
 * followed (a 3xx is not a delivery), the response body dropped. An address
 * written in the URL is judged before connecting (no lookup is made for it).
 */
export function createHttpSender({ allowed, resolveName = resolveWithSystem }: HttpSenderOptions): SendRequest {
  const lookup = guardedLookup(allowed, resolveName);
  return (request) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(request.url);
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIP(host) !== 0) {
        const refusal = destinationRefusal(host, allowed);
        if (refusal !== null) {
          reject(new DestinationRefusedError(`refused: ${refusal}`));
          return;
        }
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const outgoing = send(url, {
        method: request.method,
        headers: {
          ...request.headers,
          ...(request.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(request.body)) }),
        },
        agent: false,
        lookup,
        signal: AbortSignal.timeout(request.timeoutMs),
      });
      outgoing.on('response', (response) => {
        resolve(response.statusCode ?? 0);
        response.destroy();
      });
      outgoing.on('error', reject);
      outgoing.end(request.body);
    });
}

/**
 * A failed request, in a few words for the delivery log: "timed out", the
 * refused address and why, or the network error's code. Never the message of
 * a network error, which may quote the URL.
 */
export function describeRequestFailure(error: unknown): string {
  if (error instanceof DestinationRefusedError) return error.message;
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
    const code = (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
    return error.name.slice(0, 40);
  }
  return 'request failed';
}
