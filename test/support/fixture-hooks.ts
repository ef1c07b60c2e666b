import { afterAll, beforeAll, beforeEach } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createKeyDirectory, type GeneratedSshKey, type KeyDirectory, type TestKeyKind } from './ssh-keys.js';
import { createTestAdminToken, makeTestApp, makeTestContext, TEST_ENVIRONMENT, type TestApp, type TestContext } from './test-context.js';

/**
 * The setup the in-process test files (unit, api) share, as one call at the top
 * of a file: it registers the vitest hooks and returns an object those hooks
 * fill in, so every file sets up the same way. Kept apart from ssh-keys.ts and
 * test-context.ts, which are plain helpers the other suites call when they like.
 */

/** The names a key may not take: `useSshKeys` puts the key directory's own members beside the keys. */
const KEY_DIRECTORY_MEMBERS: readonly string[] = ['directory', 'generate', 'certify', 'remove'];

/** Each named key, plus the directory's path and `generate`/`certify` for tests that make more keys or certificates. */
export type SshKeysInUse<Name extends string> = { readonly [KeyName in Name]: GeneratedSshKey } & Pick<
  KeyDirectory,
  'directory' | 'generate' | 'certify'
>;

/**
 * Real keys from ssh-keygen, made once per file in beforeAll and removed in
 * afterAll: they are not state under test, and RSA keys take a while to make.
 * `const keys = useSshKeys({ vm: 'ed25519' })` gives `keys.vm` from beforeAll on;
 * each key's file in the directory bears its property name, for `keys.certify`.
 */
export function useSshKeys<Name extends string>(kinds: Record<Name, TestKeyKind>): SshKeysInUse<Name> {
  const taken = Object.keys(kinds).find((name) => KEY_DIRECTORY_MEMBERS.includes(name));
  if (taken !== undefined) throw new TypeError(`a test key cannot be called '${taken}': the key directory uses that name`);
  const keys: Record<string, unknown> = {};
  let directory: KeyDirectory | undefined;
  beforeAll(() => {
    directory = createKeyDirectory();
    Object.assign(keys, { directory: directory.directory, generate: directory.generate, certify: directory.certify });
    for (const [name, kind] of Object.entries<TestKeyKind>(kinds)) keys[name] = directory.generate(name, kind);
  });
  afterAll(() => directory?.remove());
  return keys as SshKeysInUse<Name>;
}

/**
 * A fresh test context for every test (its own in-memory database and clock),
 * made in beforeEach. The returned object stays the same; its fields are
 * replaced before each test, so tests read `test.context`, `test.clock`.
 */
export function useTestContext(): TestContext {
  const test = {} as TestContext;
  beforeEach(async () => {
    Object.assign(test, await makeTestContext());
  });
  return test;
}

/** A test context with an admin token in its database and the in-process app serving it. */
export interface TestApi extends TestContext {
  adminToken: string;
  app: TestApp;
}

/** As `useTestContext`, plus a fresh admin token and app per test: tests read `api.app`, `api.adminToken`, `api.clock`. */
export function useTestApi(environment: Record<string, string> = {}): TestApi {
  const api = {} as TestApi;
  beforeEach(async () => {
    const test = await makeTestContext(
      Object.keys(environment).length === 0 ? {} : { config: loadConfig({ ...TEST_ENVIRONMENT, ...environment }) },
    );
    Object.assign(api, test, { adminToken: createTestAdminToken(test.context), app: makeTestApp(test.context) });
  });
  return api;
}
