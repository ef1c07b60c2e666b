import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createTestCertificate, pinOfCertificate } from './tls-certificates.js';

/**
 * A man in the middle on loopback: an HTTPS server with its own self-signed
 * certificate for the same address as the real server, which records
 * everything it is sent and answers GET /enroll.sh with a script of its own.
 */

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ManInTheMiddle {
  readonly port: number;
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** The pin of its own key: not the server's. */
  readonly pin: string;
  /** TCP connections it accepted (a client that tried to talk to it). */
  readonly connectionCount: number;
  /** Every HTTP request that reached it, body included. */
  readonly requests: readonly RecordedRequest[];
  /** Every byte a client sent it inside TLS (a request, a token, anything). */
  receivedText(): string;
  /** Handshake failures it saw (a client that hung up during the handshake). */
  readonly tlsErrors: readonly string[];
  /** Forgets what it recorded so far. */
  reset(): void;
  close(): Promise<void>;
}

export async function startManInTheMiddle(options: { hostName: string; enrollScript: string }): Promise<ManInTheMiddle> {
  const certificate = await createTestCertificate({ hostName: options.hostName });
  let connectionCount = 0;
  let requests: RecordedRequest[] = [];
  let received: Buffer[] = [];
  let tlsErrors: string[] = [];
  const sockets = new Set<Socket>();

  const server = createServer({ cert: certificate.certificatePem, key: certificate.keyPem }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (request.url === '/enroll.sh') {
        response.writeHead(200, { 'content-type': 'text/x-shellscript' }).end(options.enrollScript);
      } else {
        // Pretend to accept whatever comes, as a real attacker would.
        response.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"AAAAAAAAAAAAAAAAAAAAAA","status":"approved"}');
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // The decrypted stream, before the HTTP parser: anything a client sent after the handshake.
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
  });
  server.on('tlsClientError', (error: Error) => tlsErrors.push(error.message));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    url: `https://127.0.0.1:${port}`,
    pin: pinOfCertificate(certificate.certificatePem),
    get connectionCount() {
      return connectionCount;
    },
    get requests() {
      return requests;
    },
    receivedText: () => Buffer.concat(received).toString('latin1'),
    get tlsErrors() {
      return tlsErrors;
    },
    reset() {
      connectionCount = 0;
      requests = [];
      received = [];
      tlsErrors = [];
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
