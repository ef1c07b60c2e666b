import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openControlChannel, requestCheckOverSocket, requestReconcileOverSocket } from '../../../src/cli/control-socket.js';
import { AppError } from '../../../src/errors.js';
import type { RepositoryCheckRow } from '../../../src/host-records/repository-checks.js';
import { codeOfAsync } from '../../support/error-codes.js';
import { type RootSocketsBehaviour, type RootSocketsFake, startRootSockets } from '../../support/root-sockets.js';

/** `borgctl`'s requests to the running server, over its control socket, answered by root's request table. */

let root: RootSocketsFake | undefined;
afterEach(async () => {
  await root?.close();
  root = undefined;
});

async function startRoot(behaviour: RootSocketsBehaviour = {}): Promise<RootSocketsFake> {
  root = await startRootSockets(behaviour);
  return root;
}

const CHECK_RESULT = { hostName: 'web1', outcome: 'ok' } as unknown as RepositoryCheckRow;

describe('a check asked for over the control socket', () => {
  it("answers with the server's check result, checked now", async () => {
    const { controlSocket, checkedNow } = await startRoot({ checkNow: async () => CHECK_RESULT });
    expect(await requestCheckOverSocket(controlSocket, 'web1')).toEqual({ hostName: 'web1', outcome: 'ok' });
    expect(checkedNow).toEqual(['web1']);
  });

  it("passes the server's error code on", async () => {
    const { controlSocket } = await startRoot({
      checkNow: async () => {
        throw new AppError('HOST_IN_SESSION', 'busy');
      },
    });
    expect(await codeOfAsync(() => requestCheckOverSocket(controlSocket, 'web1'))).toBe('HOST_IN_SESSION');
  });

  it('refuses a name that is not a host name before it reaches the checks', async () => {
    const { controlSocket, checkedNow } = await startRoot({ checkNow: async () => CHECK_RESULT });
    expect(await codeOfAsync(() => requestCheckOverSocket(controlSocket, '../web1'))).toBe('BAD_REQUEST');
    expect(checkedNow).toEqual([]);
  });

  it('is null when no server listens (the command checks itself)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sbs-control-'));
    try {
      expect(await requestCheckOverSocket(join(directory, 'none.sock'), 'web1')).toBeNull();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('a reconcile asked for over the control socket', () => {
  it('is true once the server reconciled', async () => {
    const fake = await startRoot();
    expect(await requestReconcileOverSocket(fake.controlSocket)).toBe(true);
    expect(fake.reconciles).toBe(1);
  });

  it('is false when no server listens (the command reconciles itself)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sbs-control-'));
    try {
      expect(await requestReconcileOverSocket(join(directory, 'none.sock'))).toBe(false);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('rejects when the server could not reconcile', async () => {
    const { controlSocket } = await startRoot({
      reconcileNow: async () => {
        throw new Error('disk full');
      },
    });
    await expect(requestReconcileOverSocket(controlSocket)).rejects.toThrow(/could not reconcile/);
  });
});

describe('a channel opened on the control socket', () => {
  it('asks as the CLI for as long as it is open', async () => {
    const fake = await startRoot({ checkNow: async () => CHECK_RESULT });
    const channel = await openControlChannel(fake.controlSocket);
    try {
      expect(await channel?.ask('reconcile', {}, 5000)).toBeNull();
      expect(await channel?.ask('check', { host: 'web1' }, 5000)).toEqual({ hostName: 'web1', outcome: 'ok' });
      expect(fake.checkedNow).toEqual(['web1']);
    } finally {
      channel?.close();
    }
  });

  it('is null when no server listens', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sbs-control-'));
    try {
      expect(await openControlChannel(join(directory, 'none.sock'))).toBeNull();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
