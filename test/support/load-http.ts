import { Agent, request } from 'node:http';
import { readResponseBody } from './http-response.js';

/**
 * The load test's HTTP client: node:http over keep-alive connections (one
 * pool per loopback source address), or a fresh connection per request for
 * what a VM sends once (its enrollment, as curl would). Each request says the
 * loopback address it comes from, since the server's rate limits count per
 * address. A connection that fails is an answer too (status 0, the error's
 * code): the load test counts it as the server falling over.
 *
 * Except for one race every keep-alive client has: the server closes a
 * connection that sat idle for its keep-alive timeout (Node's 5 s) just as the
 * client sends the next request on it. The agent is told to honour the
 * server's `Keep-Alive: timeout=5` hint (Node's agent applies the hint only
 * when it has a socket timeout of its own, hence `timeout`), and a request
 * that failed on a reused connection before any answer is sent once more on
 * a fresh one, as browsers and curl do; `retriedOnReusedConnection` counts them.
 */

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  /** The loopback source address (default 127.0.0.1). */
  from?: string;
  bearer?: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as an HTML form. */
  form?: Record<string, string>;
  /** A connection of its own, closed after the answer (default: a pooled keep-alive one). */
  isOneShot?: boolean;
}

export interface LoadResponse {
  /** 0 when no answer came: the connection failed (`networkError` says how). */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field in the test
  body: any;
  text: string;
  latencyMs: number;
  networkError?: string;
}

export interface LoadHttp {
  send(loadRequest: LoadRequest): Promise<LoadResponse>;
  /** Requests sent again because a reused keep-alive connection was closed under them. */
  readonly retriedOnReusedConnection: number;
  /** Closes the pooled connections. */
  close(): void;
}

const REQUEST_TIMEOUT_MS = 60_000;

export function createLoadHttp(baseUrl: string): LoadHttp {
  const url = new URL(baseUrl);
  // Sockets are pooled per host, port and local address (the agent's name includes localAddress).
  const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: REQUEST_TIMEOUT_MS });
  let retriedOnReusedConnection = 0;
  const http: LoadHttp = {
    get retriedOnReusedConnection() {
      return retriedOnReusedConnection;
    },
    async send(loadRequest) {
      const response = await sendOnce(loadRequest, loadRequest.isOneShot ? false : agent);
      if (!response.failedOnReusedConnection) return response;
      retriedOnReusedConnection += 1;
      return sendOnce(loadRequest, false);
    },
    close() {
      agent.destroy();
    },
  };
  return http;

  function sendOnce(loadRequest: LoadRequest, connection: Agent | false): Promise<LoadResponse & { failedOnReusedConnection?: boolean }> {
    const headers: Record<string, string> = { ...loadRequest.headers };
    if (loadRequest.bearer !== undefined) headers.authorization = `Bearer ${loadRequest.bearer}`;
    let payload: string | undefined;
    if (loadRequest.json !== undefined) {
      payload = JSON.stringify(loadRequest.json);
      headers['content-type'] = 'application/json';
    } else if (loadRequest.form !== undefined) {
      payload = new URLSearchParams(loadRequest.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
    const startedAt = performance.now();
    let hasAnswer = false;
    return new Promise((resolve) => {
      const failed = (error: NodeJS.ErrnoException) =>
        resolve({
          failedOnReusedConnection: outgoing.reusedSocket && !hasAnswer && RACE_ERRORS.has(error.code ?? ''),
          status: 0,
          headers: {},
          body: undefined,
          text: '',
          latencyMs: performance.now() - startedAt,
          networkError: error.code ?? error.message,
        });
      const outgoing = request(
        {
          host: url.hostname,
          port: url.port,
          path: loadRequest.path,
          method: loadRequest.method,
          headers,
          localAddress: loadRequest.from ?? '127.0.0.1',
          timeout: REQUEST_TIMEOUT_MS,
          agent: connection,
        },
        (response) => {
          hasAnswer = true;
          readResponseBody(response).then(
            ({ text, body }) =>
              resolve({
                status: response.statusCode ?? 0,
                headers: response.headers,
                body,
                text,
                latencyMs: performance.now() - startedAt,
              }),
            failed,
          );
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
      outgoing.on('error', failed);
      outgoing.end(payload);
    });
  }
}

/** How a connection the server closed while idle fails the request sent on it. */
const RACE_ERRORS = new Set(['ECONNRESET', 'EPIPE']);
