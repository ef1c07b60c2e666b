import { connect, type Socket } from 'node:net';
import { createRequestClient, type RequestClient } from '../channel/request-client.js';
import { AppError, isAppError } from '../errors.js';

/**
 * The CLI's side of root's control socket (STATE/run/cli/control.sock,
 * root-only): admin commands (`docker exec … borgctl`) ask the running server
 * to reconcile or to check a host, so that one process writes the system
 * files and runs the checks. The same request table answers as for the API;
 * these requests come in with the origin 'cli'.
 */

/** Connects, or null when no server listens (no socket, or a socket nobody accepts on). */
function connectIfListening(path: string): Promise<Socket | null> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
    function onError(error: NodeJS.ErrnoException) {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(null);
      else reject(error);
    }
    socket.once('error', onError);
  });
}

/**
 * A channel to the running server on its control socket, or null when no
 * server listens. Connect while still root: the socket is root's only (a
 * command that then gives up its rights keeps the connection it has).
 */
export async function openControlChannel(path: string, options: { keepsProcessAlive?: boolean } = {}): Promise<RequestClient | null> {
  const socket = await connectIfListening(path);
  if (!socket) return null;
  // A command that keeps the channel for a while should still end when its work is done (a waiting ask keeps it alive).
  if (options.keepsProcessAlive === false) socket.unref();
  return createRequestClient(socket);
}

/** Asks the server over its control socket and closes the connection after the answer; null when no server listens. */
async function askServer(
  path: string,
  type: string,
  fields: Record<string, unknown>,
  timeoutMs: number,
): Promise<{ result: unknown } | null> {
  const client = await openControlChannel(path);
  if (!client) return null;
  try {
    return { result: await client.ask(type, fields, timeoutMs) };
  } finally {
    client.close();
  }
}

/**
 * Asks the server to reconcile; resolves true when it did, false when no
 * server listens (the caller then reconciles itself).
 */
export async function requestReconcileOverSocket(path: string, timeoutMs = 120_000): Promise<boolean> {
  try {
    return (await askServer(path, 'reconcile', {}, timeoutMs)) !== null;
  } catch (error) {
    throw new Error(`the server could not reconcile: ${(error as Error).message}`);
  }
}

/**
 * Asks the running server to check a host's repository now and waits for the
 * result; resolves null when no server listens (the caller then checks itself).
 * The server's refusal (HOST_IN_SESSION, NOT_FOUND, …) rejects with its code.
 */
export async function requestCheckOverSocket(path: string, hostName: string, timeoutMs = 3 * 3600_000): Promise<unknown> {
  try {
    const answer = await askServer(path, 'check', { host: hostName }, timeoutMs);
    return answer === null ? null : answer.result;
  } catch (error) {
    if (isAppError(error)) throw error;
    throw new AppError('CHECK_UNAVAILABLE', `the server could not check: ${(error as Error).message}`);
  }
}
