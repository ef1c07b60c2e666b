import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { listenForReconcileRequests, requestCheckOverSocket } from '../../../src/supervise/control-socket.js';
import { codeOfAsync } from '../../support/error-codes.js';

let directory: string;
let server: Server | undefined;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-control-'));
});

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  rmSync(directory, { recursive: true, force: true });
});

async function listen(checkNow: (name: string) => Promise<unknown>): Promise<string> {
  const path = join(directory, 'control.sock');
  server = listenForReconcileRequests(path, async () => {}, checkNow);
  await new Promise<void>((resolve) => server?.once('listening', () => resolve()));
  return path;
}

describe('a check asked for over the control socket', () => {
  it("answers with the server's check result", async () => {
    const asked: string[] = [];
    const path = await listen(async (name) => {
      asked.push(name);
      return { hostName: name, outcome: 'ok' };
    });
    expect(await requestCheckOverSocket(path, 'web1')).toEqual({ hostName: 'web1', outcome: 'ok' });
    expect(asked).toEqual(['web1']);
  });

  it("passes the server's error code on", async () => {
    const path = await listen(async () => {
      throw new AppError('HOST_IN_SESSION', 'busy');
    });
    expect(await codeOfAsync(() => requestCheckOverSocket(path, 'web1'))).toBe('HOST_IN_SESSION');
  });

  it('is null when no server listens (the command checks itself)', async () => {
    expect(await requestCheckOverSocket(join(directory, 'none.sock'), 'web1')).toBeNull();
  });
});
