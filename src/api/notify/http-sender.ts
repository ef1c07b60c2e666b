/** One outgoing request of the delivery loop. */
export interface OutgoingRequest {
  method: 'POST' | 'GET';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** Sends a request and resolves to the response's status; rejects on a network error or timeout. */
export type SendRequest = (request: OutgoingRequest) => Promise<number>;

/** The real sender: fetch, no redirects followed (a 3xx is not a delivery), the body read and dropped. */
export const sendHttpRequest: SendRequest = async (request) => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    redirect: 'manual',
    signal: AbortSignal.timeout(request.timeoutMs),
  });
  await response.body?.cancel();
  return response.status;
};

/**
 * A failed request, in a few words for the delivery log: "timed out" or the
 * network error's code. Never the message, which may quote the URL.
 */
export function describeRequestFailure(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
    const cause = (error as { cause?: { code?: unknown } }).cause;
    if (typeof cause?.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(cause.code)) return cause.code;
    return error.name.slice(0, 40);
  }
  return 'request failed';
}
