import { TEST_ENVIRONMENT, type TestApp } from './test-context.js';

/** The test server's public origin: what a browser on the admin page sends as Origin. */
export const PAGE_ORIGIN = new URL(TEST_ENVIRONMENT.BORG_SERVER_PUBLIC_URL).origin;

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/**
 * A browser's side of the admin page against the in-process app: it keeps the
 * session cookie, sends the page's Origin with forms, and fills in the form
 * token from the last page it loaded. Each part can be left out or replaced.
 */
export interface WebClient {
  cookie: string | undefined;
  csrfToken: string | undefined;
  get(path: string): Promise<PageResponse>;
  post(
    path: string,
    fields?: Record<string, string | string[]>,
    options?: { origin?: string | null; csrf?: string | null; headers?: Record<string, string> },
  ): Promise<PageResponse>;
  logIn(adminToken: string): Promise<PageResponse>;
}

export function createWebClient(app: TestApp): WebClient {
  const client: WebClient = {
    cookie: undefined,
    csrfToken: undefined,
    async get(path) {
      return remember(await send(app, path, { method: 'GET', headers: cookieHeader() }));
    },
    async post(path, fields = {}, options = {}) {
      const form = new URLSearchParams();
      const csrf = options.csrf === undefined ? client.csrfToken : options.csrf;
      if (csrf !== null && csrf !== undefined) form.append('csrf', csrf);
      for (const [name, value] of Object.entries(fields)) for (const one of [value].flat()) form.append(name, one);
      const origin = options.origin === undefined ? PAGE_ORIGIN : options.origin;
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        ...cookieHeader(),
        ...(origin === null ? {} : { origin }),
        ...options.headers,
      };
      return remember(await send(app, path, { method: 'POST', headers, body: form.toString() }));
    },
    async logIn(adminToken) {
      const response = await client.post('/ui/login', { token: adminToken }, { csrf: null });
      if (response.status === 303) await client.get('/ui');
      return response;
    },
  };
  function cookieHeader(): Record<string, string> {
    return client.cookie ? { cookie: client.cookie } : {};
  }
  function remember(response: PageResponse & { setCookie: string[] }): PageResponse {
    for (const line of response.setCookie) {
      const [pair] = line.split(';');
      const [name, value] = (pair ?? '').split('=');
      client.cookie = value ? `${name}=${value}` : undefined;
    }
    const token = /name="csrf" value="([^"]+)"/.exec(response.text)?.[1];
    if (token) client.csrfToken = token;
    return response;
  }
  return client;
}

async function send(app: TestApp, path: string, init: RequestInit): Promise<PageResponse & { setCookie: string[] }> {
  const response = await app.request(path, init);
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
    location: response.headers.get('location'),
    setCookie: response.headers.getSetCookie(),
  };
}
