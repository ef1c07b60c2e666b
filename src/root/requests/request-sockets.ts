import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { Logger } from '../../log.js';
import type { RequestDispatcher } from './request-dispatcher.js';
import type { RequestOrigin } from './request-table.js';

/**
 * A Unix socket on which root takes requests, all of one origin: the socket
 * a connection came in on is what says who asks (the API user's, or root's
 * CLI). Its directory is made by serve.ts and writable by root only, so the
 * name cannot be swapped; the file's owner and mode say who may connect.
 */

/** Connections at once on the API's socket: the API process needs one; the rest is room for restarts. */
export const MAX_API_CONNECTIONS = 8;
/** Connections at once on the CLI's control socket: one per running `borgctl` command. */
export const MAX_CLI_CONNECTIONS = 16;
const REFUSED_CONNECTION_LOG_INTERVAL_MS = 1000;

export interface RequestSocketOptions {
  path: string;
  origin: RequestOrigin;
  dispatcher: RequestDispatcher;
  maxConnections: number;
  /** The socket file's owner and mode once it listens (connecting needs write permission on it). */
  ownership: { uid: number; gid: number; mode: number };
  logger: Logger;
}

/** Listens on `path` (replacing a stale socket there) and resolves once the file has its owner and mode. */
export async function listenForRequests(options: RequestSocketOptions): Promise<Server> {
  const { path, origin, dispatcher, maxConnections, ownership, logger } = options;
  rmSync(path, { force: true });
  const server = createServer((socket) => dispatcher.accept(socket, origin));
  // Past this, Node closes a new connection at once and emits 'drop'.
  server.maxConnections = maxConnections;
  let lastRefusalLoggedAtMs = Number.NEGATIVE_INFINITY;
  let refusalsNotLogged = 0;
  server.on('drop', () => {
    const now = performance.now();
    if (now - lastRefusalLoggedAtMs < REFUSED_CONNECTION_LOG_INTERVAL_MS) {
      refusalsNotLogged += 1;
      return;
    }
    logger.warn(
      { channel: origin, maxConnections, notLoggedSinceLastLine: refusalsNotLogged },
      'channel connection refused: too many open',
    );
    lastRefusalLoggedAtMs = now;
    refusalsNotLogged = 0;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error, channel: origin }, 'channel socket failed'));
  chownSync(path, ownership.uid, ownership.gid);
  chmodSync(path, ownership.mode);
  return server;
}
