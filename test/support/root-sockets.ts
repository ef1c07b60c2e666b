import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openMemoryDatabase } from '../../src/db/connection.js';
import type { RepositoryCheckRow } from '../../src/host-records/repository-checks.js';
import { createRequestDispatcher, type RequestDispatcher } from '../../src/root/requests/request-dispatcher.js';
import { listenForRequests } from '../../src/root/requests/request-sockets.js';
import { createRequestTable } from '../../src/root/requests/request-table.js';
import { supervisorRequestDefinitions } from '../../src/root/requests/supervisor-request-handlers.js';

/**
 * Root's two sockets in a temporary directory, answered by the real request
 * table (reconcile, check, restore-points) with fakes behind it that record
 * what they were asked: for the unit tests of the CLI's and the API's sides.
 */

export interface RootSocketsFake {
  controlSocket: string;
  apiSocket: string;
  dispatcher: RequestDispatcher;
  reconciles: number;
  queuedChecks: string[];
  checkedNow: string[];
  close(): Promise<void>;
}

export interface RootSocketsBehaviour {
  reconcileNow?: () => Promise<void>;
  checkNow?: (hostName: string) => Promise<RepositoryCheckRow>;
}

export async function startRootSockets(behaviour: RootSocketsBehaviour = {}): Promise<RootSocketsFake> {
  const directory = mkdtempSync(join(tmpdir(), 'sbs-root-sockets-'));
  const ownership = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const logger = pino({ level: 'silent' });
  const fake: RootSocketsFake = {
    controlSocket: join(directory, 'control.sock'),
    apiSocket: join(directory, 'api.sock'),
    dispatcher: undefined as unknown as RequestDispatcher,
    reconciles: 0,
    queuedChecks: [],
    checkedNow: [],
    close: async () => {},
  };
  const definitions = supervisorRequestDefinitions({
    async reconcileNow() {
      fake.reconciles += 1;
      await behaviour.reconcileNow?.();
    },
    checks: {
      request: (hostName) => fake.queuedChecks.push(hostName),
      async checkNow(hostName) {
        fake.checkedNow.push(hostName);
        if (!behaviour.checkNow) throw new Error('no check behaviour given');
        return behaviour.checkNow(hostName);
      },
    },
    db: openMemoryDatabase(),
    backupDir: join(directory, 'backups'),
    logger,
  });
  fake.dispatcher = createRequestDispatcher({ table: createRequestTable(definitions), logger });
  const servers: Server[] = [
    await listenForRequests({
      path: fake.controlSocket,
      origin: 'cli',
      dispatcher: fake.dispatcher,
      maxConnections: 4,
      ownership: { ...ownership, mode: 0o600 },
      logger,
    }),
    await listenForRequests({
      path: fake.apiSocket,
      origin: 'api',
      dispatcher: fake.dispatcher,
      maxConnections: 2,
      ownership: { ...ownership, mode: 0o660 },
      logger,
    }),
  ];
  fake.close = async () => {
    fake.dispatcher.closeAll();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    rmSync(directory, { recursive: true, force: true });
  };
  return fake;
}
