import { chmodSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { AppError, type ErrorCode } from '../errors.js';

/**
 * A root-only Unix socket on which admin commands (`docker exec … borgctl`)
 * ask the running server to reconcile, so that one process writes the
 * system files. One line in ("reconcile"), one line out ("ok" or "error …").
 */
export function listenForReconcileRequests(
  path: string,
  reconcileNow: () => Promise<void>,
  checkNow?: (hostName: string) => Promise<unknown>,
): Server {
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
      // "check NAME": check that host's repository now and answer with the result (JSON).
      const check = /^check ([a-z][a-z0-9-]{0,30})$/.exec(received.trim());
      if (check?.[1] && checkNow) {
        checkNow(check[1]).then(
          (result) => socket.end(`ok ${JSON.stringify(result)}\n`),
          (error: unknown) =>
            socket.end(
              `error ${JSON.stringify({ code: (error as { code?: string }).code, message: String((error as Error).message ?? error) })}\n`,
            ),
        );
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

/**
 * Asks the running server to check a host's repository now and waits for the
 * result; resolves null when no server listens (the caller then checks itself).
 */
export function requestCheckOverSocket(path: string, hostName: string, timeoutMs = 3 * 3600_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('the server did not finish the check in time')));
    socket.on('connect', () => socket.write(`check ${hostName}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => {
      const [word, ...rest] = answer.trim().split(' ');
      let body: unknown;
      try {
        body = JSON.parse(rest.join(' '));
      } catch {
        reject(new Error(`the server could not check: ${answer.trim()}`));
        return;
      }
      if (word === 'ok') resolve(body);
      else {
        const failure = body as { code?: string; message?: string };
        reject(isErrorCode(failure.code) ? new AppError(failure.code, String(failure.message)) : new Error(String(failure.message)));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(null);
      else reject(error);
    });
  });
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && /^[A-Z_]+$/.test(code);
}
