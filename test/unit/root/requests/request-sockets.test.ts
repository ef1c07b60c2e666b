import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRequestClient } from '../../../../src/channel/request-client.js';
import { createRequestDispatcher, type RequestDispatcher } from '../../../../src/root/requests/request-dispatcher.js';
import { listenForRequests } from '../../../../src/root/requests/request-sockets.js';
import { createRequestTable, defineRequest } from '../../../../src/root/requests/request-table.js';
import { codeOfAsync } from '../../../support/error-codes.js';

/** Root's listening sockets: the socket a connection came in on is its origin; owner, mode and a cap on connections. */

const isRoot = process.getuid?.() === 0;
let directory: string;
let dispatcher: RequestDispatcher;
const servers: Server[] = [];
const sockets: Socket[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-request-sockets-'));
  dispatcher = createRequestDispatcher({
    table: createRequestTable({
      whoami: defineRequest({ schema: z.strictObject({}), from: ['api', 'cli'], handle: (_request, origin) => origin }),
      'cli-only': defineRequest({ schema: z.strictObject({}), from: ['cli'], handle: () => 'ok' }),
    }),
    logger: pino({ level: 'silent' }),
  });
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  dispatcher.closeAll();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(directory, { recursive: true, force: true });
});

async function listen(name: string, origin: 'api' | 'cli', options: { maxConnections?: number; gid?: number; mode?: number } = {}) {
  const path = join(directory, name);
  const server = await listenForRequests({
    path,
    origin,
    dispatcher,
    maxConnections: options.maxConnections ?? 8,
    ownership: { uid: process.getuid?.() ?? 0, gid: options.gid ?? process.getgid?.() ?? 0, mode: options.mode ?? 0o600 },
    logger: pino({ level: 'silent' }),
  });
  servers.push(server);
  return path;
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => resolve(socket));
    sockets.push(socket);
    socket.once('error', reject);
  });
}

describe("root's request sockets", () => {
  it('give each connection the origin of its socket', async () => {
    const cliPath = await listen('control.sock', 'cli');
    const apiPath = await listen('api.sock', 'api');
    const cli = createRequestClient(await open(cliPath));
    const api = createRequestClient(await open(apiPath));
    expect(await cli.ask('whoami', {}, 5000)).toBe('cli');
    expect(await api.ask('whoami', {}, 5000)).toBe('api');
    expect(await cli.ask('cli-only', {}, 5000)).toBe('ok');
    expect(await codeOfAsync(() => api.ask('cli-only', {}, 5000))).toBe('BAD_REQUEST');
  });

  it.runIf(isRoot)('set the socket file to the owner and mode asked for', async () => {
    const path = await listen('api.sock', 'api', { gid: 4242, mode: 0o660 });
    const stats = statSync(path);
    expect({ uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777, isSocket: stats.isSocket() }).toEqual({
      uid: 0,
      gid: 4242,
      mode: 0o660,
      isSocket: true,
    });
  });

  it('replace whatever was left at the path', async () => {
    writeFileSync(join(directory, 'control.sock'), 'stale');
    const path = await listen('control.sock', 'cli');
    expect(statSync(path).isSocket()).toBe(true);
  });

  it('close connections beyond the cap at once, and serve the ones within it', async () => {
    const path = await listen('api.sock', 'api', { maxConnections: 2 });
    const first = createRequestClient(await open(path));
    const second = createRequestClient(await open(path));
    expect(await first.ask('whoami', {}, 5000)).toBe('api');
    const third = createRequestClient(await open(path));
    await third.closed;
    expect(await codeOfAsync(() => third.ask('whoami', {}, 5000))).toBe('ROOT_UNAVAILABLE');
    expect(await second.ask('whoami', {}, 5000)).toBe('api');
  });
});
