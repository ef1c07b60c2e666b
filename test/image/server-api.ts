import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';

/**
 * A client for the server's HTTPS API that trusts exactly one key: the pin
 * (curl's `sha256//…` form) computed here, independently of the server's code,
 * from the certificate the admin reads out of the state volume.
 */

export function publicKeyPinOf(certificate: string | Buffer): string {
  const spki = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface ServerApi {
  baseUrl: string;
  pin: string;
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: { body?: unknown; bearer?: string },
  ): Promise<ApiResponse<T>>;
}

export function pinnedApi(baseUrl: string, pin: string): ServerApi {
  return {
    baseUrl,
    pin,
    request<T>(method: string, path: string, options: { body?: unknown; bearer?: string } = {}) {
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      return new Promise<ApiResponse<T>>((resolve, reject) => {
        const outgoing = request(
          new URL(path, baseUrl),
          {
            method,
            // The certificate is self-signed: the pin below is the only trust anchor.
            rejectUnauthorized: false,
            agent: false,
            timeout: 30_000,
            headers: {
              ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
              ...(options.bearer === undefined ? {} : { authorization: `Bearer ${options.bearer}` }),
            },
          },
          (response) => {
            const served = (response.socket as TLSSocket).getPeerX509Certificate();
            if (!served || publicKeyPinOf(served.raw) !== pin) {
              response.destroy();
              reject(new Error(`${baseUrl} serves a TLS key other than ${pin}`));
              return;
            }
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('error', reject);
            response.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              const isJson = String(response.headers['content-type'] ?? '').includes('application/json');
              try {
                resolve({ status: response.statusCode ?? 0, body: (isJson ? JSON.parse(text) : text) as T, headers: response.headers });
              } catch (error) {
                reject(error);
              }
            });
          },
        );
        outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${path}: timed out`)));
        outgoing.on('error', reject);
        outgoing.end(payload);
      });
    },
  };
}

/** The body of a 2xx answer; anything else throws with the status and body. */
export async function expectOk<T>(response: Promise<ApiResponse<T>>): Promise<T> {
  const answer = await response;
  if (answer.status < 200 || answer.status > 299) throw new Error(`HTTP ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export interface ServerInfo {
  sshHost: string;
  sshPort: number;
  publicUrl: string;
  tlsPin: string | null;
  sshHostKeys: { type: string; key: string; fingerprint: string }[];
  knownHosts: string[];
}

export interface MintedToken {
  token: string;
  jti: string;
  expiresAt: string;
  command: string;
}

export interface EnrollmentView {
  id: string;
  hostname: string;
  status: string;
  fingerprint: string;
}

export interface HostView {
  name: string;
  uid: number;
  fingerprint: string;
  repoUrl: string;
}
