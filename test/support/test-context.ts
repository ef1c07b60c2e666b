import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdminToken } from '../../src/api/admin/admin-tokens.js';
import type { ApiLimits } from '../../src/api/api-limits.js';
import { createApp } from '../../src/api/app.js';
import type { ServerContext } from '../../src/api/context.js';
import { createRateLimiter } from '../../src/api/middleware/rate-limit.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/api/tokens/signing-key.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Db, openMemoryDatabase, openMemoryRootDatabase } from '../../src/db/connection.js';
import type { AdminRole } from '../../src/domain/admin-roles.js';
import { readSshHostKeys, type SshHostKey } from '../../src/identity/ssh-host-keys.js';
import type { TlsIdentity } from '../../src/identity/tls-identity.js';
import { changeHost } from '../../src/root/requests/host-requests.js';
import { acknowledgeMaintenance, changeMaintainer } from '../../src/root/requests/maintainer-requests.js';
import type { RootContext } from '../../src/root/root-context.js';
import { createDocumentChecker, type DocumentChecker } from './openapi-check.js';

/** The moment every test context starts at; tests move the clock from here. */
export const TEST_START = new Date('2026-03-02T10:00:00.000Z');

export const TEST_ENVIRONMENT = {
  BORG_SERVER_STATE_DIR: '/srv/test-state',
  BORG_SERVER_BACKUP_DIR: '/backups',
  BORG_SERVER_SSH_PORT: '2222',
  BORG_SERVER_HTTP_HOST: '127.0.0.1',
  BORG_SERVER_HTTP_PORT: '8080',
  BORG_SERVER_PUBLIC_URL: 'https://backup.example.test:8443',
  BORG_SERVER_SSH_HOST: 'backup.example.test',
  BORG_SERVER_SSH_PUBLIC_PORT: '2022',
};

const HOST_KEY_DIR = fileURLToPath(new URL('../fixtures/ssh-host-keys', import.meta.url));

/** The server's SSH host keys in every test: fixed public keys under test/fixtures. */
export const TEST_SSH_HOST_KEYS: readonly SshHostKey[] = readSshHostKeys(HOST_KEY_DIR);

/** The served certificate's identity in every test: the test URL is https://, with a self-signed certificate. */
export const TEST_TLS_IDENTITY: TlsIdentity = { pin: 'sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', isSelfSigned: true };

export interface TestClock {
  now(): Date;
  set(date: Date): void;
  advance(milliseconds: number): void;
}

export function createTestClock(start: Date = TEST_START): TestClock {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set(date) {
      current = new Date(date);
    },
    advance(milliseconds) {
      current = new Date(current.getTime() + milliseconds);
    },
  };
}

export interface TestContext {
  context: ServerContext;
  clock: TestClock;
  config: Config;
  signingKey: SigningKey;
  /** When root was asked to apply a change (and reconciled), by the test clock. */
  reconcileCalls: Date[];
  /** Root's own database, as the in-process root side keeps it. */
  rootDb: Db;
}

/** A real signing key, generated once per test file and reused: it is not state under test. */
let sharedSigningKey: Promise<SigningKey> | undefined;

/** The private half (`d` of the JWK) of each test signing key, for tests that look for leaked secrets. */
const privateParts = new WeakMap<SigningKey, string>();

export async function createTestSigningKey(): Promise<SigningKey> {
  const directory = mkdtempSync(join(tmpdir(), 'sbs-signing-'));
  try {
    const key = await loadOrCreateSigningKey(join(directory, 'signing'));
    const stored = JSON.parse(readFileSync(join(directory, 'signing', readdirSync(join(directory, 'signing'))[0] ?? ''), 'utf8'));
    privateParts.set(key, String(stored.d));
    return key;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export function signingKeyPrivatePart(key: SigningKey): string {
  const part = privateParts.get(key);
  if (part === undefined) throw new Error('not a test signing key');
  return part;
}

/**
 * A ServerContext on a fresh in-memory database with the real migrations, a
 * settable clock, a real Ed25519 signing key, root's side in process (its own
 * in-memory database, a recorded reconcile),
 * fixed SSH host keys and a fixed TLS pin.
 */
export async function makeTestContext(overrides: Partial<ServerContext> = {}): Promise<TestContext> {
  sharedSigningKey ??= createTestSigningKey();
  const signingKey = overrides.signingKey ?? (await sharedSigningKey);
  const clock = createTestClock();
  const config = overrides.config ?? loadConfig({ ...TEST_ENVIRONMENT });
  const reconcileCalls: Date[] = [];
  const db = openMemoryDatabase();
  const rootDb = openMemoryRootDatabase();
  const context: ServerContext = {
    db,
    config,
    now: clock.now,
    signingKey,
    // Root's side in this process: the real checks against a root database of its own, and a recorded reconcile.
    changeHost: async (change) => {
      const answer = changeHost(rootDb, change, { now: clock.now() });
      reconcileCalls.push(clock.now());
      return answer;
    },
    changeMaintainer: async (change) => {
      const answer = changeMaintainer(rootDb, change, { now: clock.now() });
      reconcileCalls.push(clock.now());
      return answer;
    },
    acknowledgeMaintenance: async (hostName) => {
      const answer = acknowledgeMaintenance(rootDb, hostName, { now: clock.now() });
      reconcileCalls.push(clock.now());
      return answer;
    },
    readSshHostKeys: () => TEST_SSH_HOST_KEYS.map((key) => ({ ...key })),
    tlsIdentity: () => ({ ...TEST_TLS_IDENTITY }),
    ...overrides,
  };
  return { context, rootDb, clock, config, signingKey, reconcileCalls };
}

export interface TestRootContext {
  context: RootContext;
  clock: TestClock;
  /** When the root side reconciled, by the test clock. */
  reconcileCalls: Date[];
}

/** Root's side alone (restore, import): its own in-memory database with the real migrations, a recorded reconcile. */
export function makeTestRootContext(config: Config = loadConfig({ ...TEST_ENVIRONMENT })): TestRootContext {
  const clock = createTestClock();
  const reconcileCalls: Date[] = [];
  const context: RootContext = {
    db: openMemoryRootDatabase(),
    config,
    now: clock.now,
    requestReconcile: async () => {
      reconcileCalls.push(clock.now());
    },
  };
  return { context, clock, reconcileCalls };
}

/** Creates an admin token (of the admin role unless told) in the context's database and returns the secret token string. */
export function createTestAdminToken(
  context: ServerContext,
  label = 'test',
  { role = 'admin', expiresAt = null }: { role?: AdminRole; expiresAt?: Date | null } = {},
): string {
  return createAdminToken(context.db, { label, role, expiresAt }, context.now(), 'test').token;
}

/** Limits high enough that no test meets them unless it means to. */
export function generousLimits(): ApiLimits {
  return {
    adminFailures: createRateLimiter({ limit: 10_000, windowMs: 60_000 }),
    enrollAttempts: createRateLimiter({ limit: 10_000, windowMs: 60_000 }),
    lookups: createRateLimiter({ limit: 10_000, windowMs: 60_000 }),
  };
}

export function makeTestApp(context: ServerContext, options: { limits?: Partial<ApiLimits>; logError?: (error: unknown) => void } = {}) {
  return createApp({
    context,
    limits: { ...generousLimits(), ...options.limits },
    logError: options.logError ?? (() => {}),
  });
}

export type TestApp = ReturnType<typeof makeTestApp>;

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in the tests
  body: any;
  text: string;
}

const documentCheckers = new WeakMap<TestApp, DocumentChecker>();
/** Checkers by the document's text: tests build many apps that serve the same document, compiled once. */
const checkersByDocument = new Map<string, DocumentChecker>();

/** The checker of answers against the OpenAPI document this app serves (fetched once per app). */
export async function documentCheckerOf(app: TestApp): Promise<DocumentChecker> {
  let checker = documentCheckers.get(app);
  if (!checker) {
    const response = await app.request('/v1/openapi.json');
    if (response.status !== 200) throw new Error(`GET /v1/openapi.json answered ${response.status}`);
    const text = await response.text();
    checker = checkersByDocument.get(text) ?? createDocumentChecker(JSON.parse(text));
    checkersByDocument.set(text, checker);
    documentCheckers.set(app, checker);
  }
  return checker;
}

/**
 * One JSON request to the in-process app; `body` is sent as JSON unless `rawBody` is given.
 * Every answer is checked against the app's OpenAPI document: a status it does not declare for
 * the operation, or a JSON body its schema refuses, fails the test.
 */
export async function callApi(
  app: TestApp,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; remoteAddress?: string } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) {
    body = options.rawBody;
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  // What @hono/node-server's getConnInfo reads: the TCP peer, as a real server would see it.
  const bindings =
    options.remoteAddress === undefined ? undefined : { incoming: { socket: { remoteAddress: options.remoteAddress, remotePort: 40000 } } };
  const response = await app.request(path, { method, headers, ...(body === undefined ? {} : { body }) }, bindings);
  const text = await response.text();
  let parsed: unknown = null;
  const contentType = response.headers.get('content-type') ?? '';
  if (contentType.includes('json')) parsed = JSON.parse(text);
  const sentBody = options.rawBody === undefined ? options.body : undefined;
  const problems = (await documentCheckerOf(app)).problemsOf(
    method,
    path,
    { status: response.status, contentType, body: parsed },
    { body: sentBody },
  );
  if (problems.length > 0) throw new Error(`the answer disagrees with the OpenAPI document: ${problems.join('; ')}`);
  return { status: response.status, headers: response.headers, body: parsed, text };
}
