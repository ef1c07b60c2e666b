import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connectToRoot } from '../../../src/api/root-connection.js';
import {
  requestCheckFromSupervisor,
  requestReconcileFromSupervisor,
  requestRestorePointsFromSupervisor,
} from '../../../src/api/root-requests.js';
import { createLineChannel } from '../../../src/channel/line-channel.js';
import { createRequestClient, type RequestClient } from '../../../src/channel/request-client.js';
import { codeOfAsync } from '../../support/error-codes.js';
import { type RootSocketsBehaviour, type RootSocketsFake, startRootSockets } from '../../support/root-sockets.js';
import { connectedSocketPair } from '../../support/socket-pair.js';
import { waitFor } from '../../support/wait-for.js';

/** The API's requests to root over the API's socket, answered by root's request table with fakes behind it. */

let root: RootSocketsFake | undefined;
let client: RequestClient | undefined;
afterEach(async () => {
  client?.close();
  await root?.close();
  root = undefined;
  client = undefined;
});

async function connected(behaviour: RootSocketsBehaviour = {}): Promise<{ root: RootSocketsFake; client: RequestClient }> {
  root = await startRootSockets(behaviour);
  client = await connectToRoot(root.apiSocket, { retryForMs: 1000 });
  return { root, client };
}

describe('the API without root', () => {
  it('refuses each request with its own code, as before', async () => {
    expect(await codeOfAsync(() => requestReconcileFromSupervisor(1000, null))).toBe('RECONCILE_FAILED');
    expect(await codeOfAsync(() => requestCheckFromSupervisor('web1', null))).toBe('CHECK_UNAVAILABLE');
    expect(await codeOfAsync(() => requestRestorePointsFromSupervisor('web1', 1000, null))).toBe('RESTORE_POINTS_UNAVAILABLE');
  });

  it('uses no connection unless one was set (a test or a tool importing the API)', async () => {
    expect(await codeOfAsync(() => requestRestorePointsFromSupervisor('web1'))).toBe('RESTORE_POINTS_UNAVAILABLE');
  });
});

describe('the API asking root', () => {
  it('waits for the reconcile', async () => {
    const { root, client } = await connected();
    await requestReconcileFromSupervisor(5000, client);
    expect(root.reconciles).toBe(1);
  });

  it('is told RECONCILE_FAILED when root could not reconcile', async () => {
    const { client } = await connected({
      reconcileNow: async () => {
        throw new Error('disk full');
      },
    });
    expect(await codeOfAsync(() => requestReconcileFromSupervisor(5000, client))).toBe('RECONCILE_FAILED');
  });

  it('is told RECONCILE_FAILED, in time, when root takes too long', async () => {
    const { client } = await connected({ reconcileNow: () => sleep(500) });
    const error = await requestReconcileFromSupervisor(50, client).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'RECONCILE_FAILED', message: 'the server did not apply the change in time' });
  });

  it('has a check queued, answered at once', async () => {
    const { root, client } = await connected();
    await requestCheckFromSupervisor('web1', client);
    expect(root.queuedChecks).toEqual(['web1']);
    expect(root.checkedNow).toEqual([]);
  });

  it("is told root's refusal of a name that is not a host's", async () => {
    const { root, client } = await connected();
    expect(await codeOfAsync(() => requestCheckFromSupervisor('../etc', client))).toBe('BAD_REQUEST');
    expect(root.queuedChecks).toEqual([]);
  });

  it('is told RESTORE_POINTS_UNAVAILABLE, with the reason, for a host root does not know', async () => {
    const { client } = await connected();
    const error = await requestRestorePointsFromSupervisor('web1', 5000, client).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'RESTORE_POINTS_UNAVAILABLE', message: 'no host named "web1"' });
  });

  it('exits its wait when root closes the channel', async () => {
    const { root, client } = await connected({ reconcileNow: () => sleep(2000) });
    const asked = requestReconcileFromSupervisor(5000, client);
    // Closed while root works on the request, not before the request reached it.
    await waitFor('root to start the reconcile', () => (root.reconciles === 1 ? true : undefined));
    root.dispatcher.closeAll();
    expect(await codeOfAsync(() => asked)).toBe('RECONCILE_FAILED');
    await client.closed;
  });
});

describe("the API reading root's answer", () => {
  it('turns the restore points into dates, and refuses an answer of another shape', async () => {
    const pair = await connectedSocketPair();
    try {
      const asking = createRequestClient(pair.near);
      const scriptedRoot = createLineChannel(pair.far, {
        onMessage(request) {
          const result =
            request.host === 'web1'
              ? { points: [{ id: 3, committedAt: '2026-11-27T04:00:00.000Z' }], total: 3 }
              : { points: 'all of them', total: -1 };
          scriptedRoot.send({ type: 'reply', id: request.id, result });
        },
        onDrop: () => {},
      });
      expect(await requestRestorePointsFromSupervisor('web1', 5000, asking)).toEqual({
        newest: [{ id: 3, committedAt: new Date('2026-11-27T04:00:00.000Z') }],
        total: 3,
      });
      expect(await codeOfAsync(() => requestRestorePointsFromSupervisor('web2', 5000, asking))).toBe('RESTORE_POINTS_UNAVAILABLE');
    } finally {
      pair.remove();
    }
  });
});

describe('connecting to root', () => {
  it('retries until root listens', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sbs-connect-'));
    const path = join(directory, 'api.sock');
    const server = createServer();
    try {
      const connecting = connectToRoot(path, { retryForMs: 3000, retryEveryMs: 20 });
      await sleep(150);
      await new Promise<void>((resolve) => server.listen(path, resolve));
      client = await connecting;
      expect(client.isClosed).toBe(false);
    } finally {
      server.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('gives up with ROOT_UNAVAILABLE when nobody listens', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sbs-connect-'));
    try {
      // It gives up by itself: were it to retry for ever, the test's own timeout would fail it (no
      // wall-clock bound here, which a busy machine could overrun).
      expect(await codeOfAsync(() => connectToRoot(join(directory, 'api.sock'), { retryForMs: 200, retryEveryMs: 20 }))).toBe(
        'ROOT_UNAVAILABLE',
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
