import { expect } from 'vitest';
import type { GeneratedSshKey } from './ssh-keys.js';
import { type ApiResponse, callApi, type TestApp } from './test-context.js';

/** The steps of an enrollment through the HTTP API, for tests about what comes after them. */

export async function mintToken(app: TestApp, adminToken: string, body: Record<string, unknown> = {}): Promise<string> {
  const response = await callApi(app, 'POST', '/v1/admin/tokens', { token: adminToken, body });
  expect(response.status).toBe(201);
  return response.body.token as string;
}

export function enroll(
  app: TestApp,
  enrollmentToken: string,
  hostname: string | undefined,
  key: GeneratedSshKey,
  fromAddress?: string,
): Promise<ApiResponse> {
  return callApi(app, 'POST', '/v1/enroll', {
    token: enrollmentToken,
    ...(fromAddress === undefined ? {} : { remoteAddress: fromAddress }),
    body: hostname === undefined ? { publicKey: key.publicKey } : { hostname, publicKey: key.publicKey },
  });
}

export function approve(app: TestApp, adminToken: string, id: string, body: Record<string, unknown>): Promise<ApiResponse> {
  return callApi(app, 'POST', `/v1/admin/enrollments/${id}/approve`, { token: adminToken, body });
}

/** Mints a token, enrolls the key under the name and returns the enrollment id. */
export async function enrollPending(app: TestApp, adminToken: string, hostname: string, key: GeneratedSshKey): Promise<string> {
  const response = await enroll(app, await mintToken(app, adminToken), hostname, key);
  expect(response.status).toBe(202);
  return response.body.id as string;
}

/** Mints, enrolls and approves: the host exists afterwards. */
export async function enrollApproved(app: TestApp, adminToken: string, hostname: string, key: GeneratedSshKey): Promise<string> {
  const id = await enrollPending(app, adminToken, hostname, key);
  const response = await approve(app, adminToken, id, { fingerprint: key.fingerprint });
  expect(response.status).toBe(200);
  return id;
}
