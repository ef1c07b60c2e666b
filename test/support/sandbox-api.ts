import type { TestContext } from 'vitest';
import { httpRequest } from './attack-http.js';
import { createDocumentChecker, type DocumentChecker } from './openapi-check.js';
import { createSandbox, type Sandbox, type SandboxOptions, type ServerOptions, sshdProcessesInSandboxes } from './sandbox.js';
import type { BorgClient } from './sandbox-client.js';

/**
 * The admin's and the VM's side of the HTTP API of a `borgctl serve` running in
 * a sandbox, for system tests: plain HTTP requests against the real server.
 */

export interface ApiResponse<Body = Record<string, unknown>> {
  status: number;
  body: Body;
}

export interface EnrollmentTokenOptions {
  host?: string;
  ttl?: string | number;
  quota?: string | number;
  appendOnly?: boolean;
  allowFrom?: string;
  autoApprove?: boolean;
}

export interface MintedToken {
  token: string;
  jti: string;
  expiresAt: string;
  /** The ready curl line for the VM. */
  command: string;
}

export interface EnrollResponse {
  id: string;
  status: string;
  hostname: string;
  fingerprint: string;
  pollUrl: string;
}

export interface EnrollmentView {
  status: string;
  hostname: string;
  fingerprint: string;
  repoUrl?: string;
  knownHosts?: string[];
  sshHostKeys?: { type: string; key: string; fingerprint: string }[];
}

export interface ServerApi {
  readonly baseUrl: string;
  readonly adminToken: string;
  request<Body = Record<string, unknown>>(
    method: string,
    path: string,
    options?: { body?: unknown; bearer?: string },
  ): Promise<ApiResponse<Body>>;
  /** POST /v1/admin/tokens, expecting 201. */
  mintEnrollmentToken(options?: EnrollmentTokenOptions): Promise<MintedToken>;
  /** POST /v1/enroll with the token, expecting 202. */
  enroll(token: string, hostname: string, publicKey: string): Promise<EnrollResponse>;
  /** POST /v1/admin/enrollments/:id/approve. */
  approve(id: string, fingerprint: string): Promise<ApiResponse>;
  /** GET /v1/enrollments/:id. */
  enrollment(id: string): Promise<ApiResponse<EnrollmentView>>;
}

/**
 * The checker of answers against the running server's OpenAPI document: fetched at the first request that
 * finds the API up (a test may call while it restarts), then kept.
 */
function createServedDocumentChecker(baseUrl: string): () => Promise<DocumentChecker | null> {
  let checker: DocumentChecker | null = null;
  return async () => {
    if (checker) return checker;
    const response = await httpRequest(baseUrl, 'GET', '/v1/openapi.json').catch(() => null);
    if (response?.status === 200) checker = createDocumentChecker(response.body);
    return checker;
  };
}

export function createServerApi(baseUrl: string, adminToken: string): ServerApi {
  const documentChecker = createServedDocumentChecker(baseUrl);
  const api: ServerApi = {
    baseUrl,
    adminToken,
    async request(method, path, options = {}) {
      // A connection of its own per request (httpRequest's agent: false): a request on a kept-alive
      // connection that the server times out in the same turn as the request arrives (its event loop held
      // up, as by a locked database's busy wait) is reset unanswered, and a POST is not retried.
      const response = await httpRequest(baseUrl, method, path, options);
      if (response.status === 0) throw new Error(`${method} ${path}: the connection was ${response.text} before an answer`);
      // Every answer of the real server agrees with the document it serves, as in the API tests (test-context.ts).
      const problems = (await documentChecker())?.problemsOf(method, path, response, { body: options.body }) ?? [];
      if (problems.length > 0) throw new Error(`the answer disagrees with the OpenAPI document: ${problems.join('; ')}`);
      return { status: response.status, body: response.body as never };
    },
    async mintEnrollmentToken(options = {}) {
      const response = await api.request<MintedToken>('POST', '/v1/admin/tokens', { body: options, bearer: adminToken });
      expectStatus(response, 201, 'POST /v1/admin/tokens');
      return response.body;
    },
    async enroll(token, hostname, publicKey) {
      const response = await api.request<EnrollResponse>('POST', '/v1/enroll', { body: { hostname, publicKey }, bearer: token });
      expectStatus(response, 202, 'POST /v1/enroll');
      return response.body;
    },
    approve: (id, fingerprint) => api.request('POST', `/v1/admin/enrollments/${id}/approve`, { body: { fingerprint }, bearer: adminToken }),
    enrollment: (id) => api.request<EnrollmentView>('GET', `/v1/enrollments/${id}`),
  };
  return api;
}

function expectStatus(response: ApiResponse<unknown>, status: number, what: string): void {
  if (response.status !== status) {
    throw new Error(`${what} answered ${response.status}, not ${status}: ${JSON.stringify(response.body)}`);
  }
}

/** `borgctl admin-token create` inside the sandbox: the secret is the last line of standard output. */
export async function createAdminToken(sandbox: Sandbox): Promise<string> {
  const result = await sandbox.borgctl(['admin-token', 'create']);
  const lines = result.stdout.trimEnd().split('\n');
  return lines[lines.length - 1] as string;
}

/** A host enrolled over HTTP with the client's key and approved with its fingerprint. */
export async function enrollAndApprove(
  api: ServerApi,
  client: BorgClient,
  hostname: string,
  tokenOptions: EnrollmentTokenOptions = {},
): Promise<{ id: string; repoUrl: string; knownHosts: string[] }> {
  const { token } = await api.mintEnrollmentToken(tokenOptions);
  const enrollment = await api.enroll(token, hostname, client.publicKey);
  const approval = await api.approve(enrollment.id, client.fingerprint);
  expectStatus(approval, 200, 'POST /v1/admin/enrollments/:id/approve');
  const view = await api.enrollment(enrollment.id);
  if (!view.body.repoUrl || !view.body.knownHosts) {
    throw new Error(`the approved enrollment has no repoUrl or knownHosts: ${JSON.stringify(view.body)}`);
  }
  await client.writeKnownHosts(view.body.knownHosts);
  return { id: enrollment.id, repoUrl: view.body.repoUrl, knownHosts: view.body.knownHosts };
}

/**
 * The server calls only public addresses by default; tests whose webhook or ping receivers listen on
 * loopback start it as an admin with receivers on their own network would (BORG_SERVER_OUTGOING_ALLOW).
 */
export const LOOPBACK_RECEIVERS_ALLOWED: SandboxOptions = { environment: { BORG_SERVER_OUTGOING_ALLOW: '127.0.0.0/8' } };

export interface ServerSandbox {
  sandbox: Sandbox;
  api: ServerApi;
}

/** A fresh sandbox with `borgctl serve` running (with `serverOptions`) and an admin token. */
export async function startServerSandbox(serverOptions: ServerOptions = {}, sandboxOptions: SandboxOptions = {}): Promise<ServerSandbox> {
  const sandbox = await createSandbox(sandboxOptions);
  try {
    await sandbox.startServer(serverOptions);
    const adminToken = await createAdminToken(sandbox);
    return { sandbox, api: createServerApi(sandbox.baseUrl, adminToken) };
  } catch (error) {
    await sandbox.stop();
    throw error;
  }
}

/**
 * Stops the sandbox; prints the server's output when the test failed; fails
 * when the server left a process behind or an sshd of this file's sandboxes lives on.
 */
export async function stopServerSandbox(serverSandbox: ServerSandbox | undefined, context: TestContext): Promise<void> {
  if (!serverSandbox) return;
  const { sandbox } = serverSandbox;
  const output = sandbox.server?.output() ?? '';
  const report = await sandbox.stop();
  if (context.task.result?.state === 'fail') {
    console.log(`--- borgctl serve output (${context.task.name}) ---\n${output}--- end ---`);
  }
  const exit = sandbox.server ? await sandbox.server.exited : undefined;
  if (report.leftoverProcesses.length > 0) {
    throw new Error(`borgctl serve left processes behind: ${JSON.stringify(report.leftoverProcesses)}\n${output}`);
  }
  if (exit && exit.exitCode !== 0) {
    throw new Error(`borgctl serve did not exit cleanly on SIGTERM: ${JSON.stringify(exit)}\n${output}`);
  }
  const sshd = await sshdProcessesInSandboxes();
  if (sshd.length > 0) throw new Error(`sshd outlived its sandbox: ${JSON.stringify(sshd)}`);
}
