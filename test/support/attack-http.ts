import { request } from 'node:http';
import { readResponseBody } from './http-response.js';

/**
 * HTTP requests from a chosen loopback source address (127.0.0.2, 127.0.0.3, …):
 * the server's rate limits count per client address, so each attack that
 * trips one (or sends many requests) uses an address of its own and leaves
 * the others' budgets alone. Bodies are sent as given; nothing is retried.
 */

export interface HttpResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field in the tests
  body: any;
  text: string;
  /** The Content-Type header ('' without one). */
  contentType: string;
}

export interface HttpRequestOptions {
  body?: unknown;
  /** Sent as is (no JSON encoding), e.g. a huge or malformed body. */
  rawBody?: string | Buffer;
  bearer?: string;
  headers?: Record<string, string>;
  /** The loopback address the request comes from (default 127.0.0.1). */
  from?: string;
}

export function httpRequest(baseUrl: string, method: string, path: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const url = new URL(path, baseUrl);
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  let payload: string | Buffer | undefined;
  if (options.rawBody !== undefined) {
    payload = options.rawBody;
  } else if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        localAddress: options.from ?? '127.0.0.1',
        timeout: 30_000,
        agent: false,
      },
      (response) => {
        readResponseBody(response).then(
          ({ text, body }) =>
            resolve({ status: response.statusCode ?? 0, body, text, contentType: response.headers['content-type'] ?? '' }),
          reject,
        );
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${path} timed out`)));
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // A server that answers 413 before reading the whole body may reset the connection mid-upload.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') {
        resolve({ status: 0, body: { error: error.code }, text: error.code, contentType: '' });
        return;
      }
      reject(error);
    });
    if (payload !== undefined) outgoing.write(payload);
    outgoing.end();
  });
}
