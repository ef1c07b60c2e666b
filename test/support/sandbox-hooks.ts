import { afterEach, beforeEach } from 'vitest';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from './sandbox-api.js';
import { type BorgClient, createBorgClient } from './sandbox-client.js';

/**
 * The setups most system test files share, as one call in a describe block (as
 * fixture-hooks.ts is for the in-process suites): before each test a fresh
 * server in its own sandbox (and, with useServerAndClient, one borg client with
 * a key of its own); after it, all of it removed (the server's output kept for
 * a failed test). The returned object stays the same; its fields are replaced
 * before each test. A file's own beforeEach, registered after this call, runs
 * after the setup.
 */
export interface ServerInUse {
  readonly server: ServerSandbox;
}

export interface ServerAndClient extends ServerInUse {
  readonly client: BorgClient;
}

export function useServer(): ServerInUse {
  const setup = {} as { server: ServerSandbox };
  let server: ServerSandbox | undefined;
  beforeEach(async () => {
    server = await startServerSandbox();
    setup.server = server;
  });
  afterEach(async (context) => {
    await stopServerSandbox(server, context);
    server = undefined;
  });
  return setup;
}

export function useServerAndClient(clientName: string): ServerAndClient {
  const setup = useServer() as { server: ServerSandbox; client: BorgClient };
  let client: BorgClient | undefined;
  beforeEach(async () => {
    client = await createBorgClient(clientName);
    setup.client = client;
  });
  // Registered after useServer's, so it runs first: the client goes before the server stops, as before.
  afterEach(async () => {
    await client?.remove();
    client = undefined;
  });
  return setup;
}
