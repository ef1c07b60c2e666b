import { afterEach, beforeEach } from 'vitest';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from './sandbox-api.js';
import { type BorgClient, createBorgClient } from './sandbox-client.js';

/**
 * The setup most system test files share, as one call in a describe block (as
 * fixture-hooks.ts is for the in-process suites): before each test a fresh
 * server in its own sandbox and one borg client with a key of its own; after
 * it, both removed (the server's output kept for a failed test). The returned
 * object stays the same; its fields are replaced before each test. A file's
 * own beforeEach, registered after this call, runs after the setup.
 */
export interface ServerAndClient {
  readonly server: ServerSandbox;
  readonly client: BorgClient;
}

export function useServerAndClient(clientName: string): ServerAndClient {
  const setup = {} as { server: ServerSandbox; client: BorgClient };
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;
  beforeEach(async () => {
    server = await startServerSandbox();
    client = await createBorgClient(clientName);
    Object.assign(setup, { server, client });
  });
  afterEach(async (context) => {
    await client?.remove();
    await stopServerSandbox(server, context);
    server = undefined;
    client = undefined;
  });
  return setup;
}
