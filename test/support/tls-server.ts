import type { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import type { TestContext } from 'vitest';
import { readResponseBody } from './http-response.js';
import { BORGCTL_PATH, canConnect, type Sandbox, type SandboxProcess, sshdProcessesInSandboxes } from './sandbox.js';
import { pinOfCertificate } from './tls-certificates.js';

/**
 * `borgctl serve` over HTTPS in a sandbox, and an HTTPS client for the test's
 * own calls. `sandbox.startServer` waits for plain HTTP on /healthz, which an
 * HTTPS server never answers: this starts the same command and waits for TLS.
 */

export interface HttpsResponse<Body = unknown> {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: Body;
  /** The certificate the server presented on this connection. */
  certificate: X509Certificate;
}

export interface HttpsRequestOptions {
  method?: string;
  body?: unknown;
  bearer?: string;
  /** Fail unless the server's key has this pin (checked before the response is read). */
  pin?: string;
  timeoutMs?: number;
}

/**
 * One request on a fresh connection (no keep-alive, no session reuse), so each
 * answer shows the certificate served at that moment. The test trusts by pin,
 * as enroll.sh does, not by a CA.
 */
export function requestOverHttps<Body = unknown>(url: string, options: HttpsRequestOptions = {}): Promise<HttpsResponse<Body>> {
  const headers: Record<string, string> = {};
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      { method: options.method ?? 'GET', headers, agent: false, rejectUnauthorized: false, timeout: options.timeoutMs ?? 30_000 },
      (response) => {
        const certificate = (response.socket as TLSSocket).getPeerX509Certificate();
        if (!certificate) {
          response.destroy();
          reject(new Error(`${url}: no server certificate`));
          return;
        }
        if (options.pin && pinOfCertificate(certificate.toString()) !== options.pin) {
          response.destroy();
          reject(new Error(`${url}: the server's key does not match ${options.pin}`));
          return;
        }
        readResponseBody(response).then(({ text, body }) => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, body: body as Body, certificate });
        }, reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${url}: timed out`)));
    request.on('error', reject);
    request.end(payload);
  });
}

export interface HttpsServerOptions {
  /** Environment added to the sandbox's server environment (BORG_SERVER_PUBLIC_URL is set to https://127.0.0.1:PORT). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export function httpsUrl(sandbox: Sandbox): string {
  return `https://127.0.0.1:${sandbox.httpPort}`;
}

/** Spawns `borgctl serve` with an https:// public URL; resolves once SSH accepts connections and /healthz answers over TLS. */
export async function startHttpsServer(sandbox: Sandbox, options: HttpsServerOptions = {}): Promise<SandboxProcess> {
  const server = sandbox.spawn([process.execPath, BORGCTL_PATH, 'serve'], {
    env: { ...sandbox.serverEnvironment, BORG_SERVER_PUBLIC_URL: httpsUrl(sandbox), ...options.env },
  });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  const checks = [
    () => canConnect(sandbox.sshPort),
    async () => (await requestOverHttps(`${httpsUrl(sandbox)}/healthz`, { timeoutMs: 2000 })).status === 200,
  ];
  for (const check of checks) {
    while (!(await check().catch(() => false))) {
      if (server.hasExited()) {
        throw new Error(`borgctl serve exited with ${JSON.stringify(await server.exited)} before it was ready:\n${server.output()}`);
      }
      if (Date.now() > deadline) throw new Error(`borgctl serve was not ready over HTTPS in time:\n${server.output()}`);
      await sleep(100);
    }
  }
  return server;
}

/**
 * Stops the sandbox; prints the server's output when the test failed; fails
 * when the server did not stop cleanly, left a process behind, or an sshd lives on.
 */
export async function stopHttpsSandbox(
  sandbox: Sandbox | undefined,
  server: SandboxProcess | undefined,
  context: TestContext,
): Promise<void> {
  if (!sandbox) return;
  const output = server?.output() ?? '';
  const wasRunning = server !== undefined && !server.hasExited();
  const report = await sandbox.stop();
  if (context.task.result?.state === 'fail') console.log(`--- borgctl serve output (${context.task.name}) ---\n${output}--- end ---`);
  if (report.leftoverProcesses.length > 0) {
    throw new Error(`borgctl serve left processes behind: ${JSON.stringify(report.leftoverProcesses)}\n${output}`);
  }
  const exit = server ? await server.exited : undefined;
  if (wasRunning && exit?.exitCode !== 0)
    throw new Error(`borgctl serve did not exit cleanly on SIGTERM: ${JSON.stringify(exit)}\n${output}`);
  const sshd = await sshdProcessesInSandboxes();
  if (sshd.length > 0) throw new Error(`sshd outlived its sandbox: ${JSON.stringify(sshd)}`);
}
