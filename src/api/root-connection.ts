import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequestClient, type RequestClient } from '../channel/request-client.js';
import { AppError } from '../errors.js';

/**
 * The API process's one connection to root, on the API's socket
 * (STATE/run/api/api.sock). Root may start listening a moment after it
 * started us, so connecting is retried for a while; after that the API gives
 * up and exits, and the supervisor starts it again.
 */

export interface ConnectOptions {
  retryForMs?: number;
  retryEveryMs?: number;
}

/** Errors that mean "nobody listens yet", worth another try. */
const NOT_LISTENING_YET = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN']);

export async function connectToRoot(socketPath: string, options: ConnectOptions = {}): Promise<RequestClient> {
  const { retryForMs = 10_000, retryEveryMs = 200 } = options;
  const deadline = performance.now() + retryForMs;
  for (;;) {
    try {
      return createRequestClient(await openSocket(socketPath));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!NOT_LISTENING_YET.has(code ?? '') || performance.now() + retryEveryMs > deadline) {
        throw new AppError('ROOT_UNAVAILABLE', `could not connect to the server at ${socketPath}: ${code ?? (error as Error).message}`);
      }
      await sleep(retryEveryMs);
    }
  }
}

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
