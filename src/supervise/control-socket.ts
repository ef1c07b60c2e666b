import { chmodSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

/**
 * A root-only Unix socket on which admin commands (`docker exec … borgctl`)
 * ask the running server to reconcile, so that one process writes the
 * system files. One line in ("reconcile"), one line out ("ok" or "error …").
 */
export function listenForReconcileRequests(path: string, reconcileNow: () => Promise<void>): Server {
  try {
    unlinkSync(path);
  } catch {}
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    let received = '';
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (!received.includes('\n')) {
        if (received.length > 64) socket.destroy();
        return;
      }
      if (received.trim() !== 'reconcile') {
        socket.end('error unknown request\n');
        return;
      }
      reconcileNow().then(
        () => socket.end('ok\n'),
        (error: unknown) => socket.end(`error ${String((error as Error).message ?? error).replace(/\n/g, ' ')}\n`),
      );
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(path, () => chmodSync(path, 0o600));
  return server;
}

/**
 * Asks the server to reconcile; resolves true when it did, false when no
 * server listens (the caller then reconciles itself).
 */
export function requestReconcileOverSocket(path: string, timeoutMs = 120_000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('the server did not answer the reconcile request in time')));
    socket.on('connect', () => socket.write('reconcile\n'));
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => {
      if (answer.trim() === 'ok') resolve(true);
      else reject(new Error(`the server could not reconcile: ${answer.trim().replace(/^error /, '')}`));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(false);
      else reject(error);
    });
  });
}
