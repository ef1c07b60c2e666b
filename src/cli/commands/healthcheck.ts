import { unlinkSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../../config.js';
import { publicKeyPin } from '../../tls/public-key-pin.js';
import { readTlsIdentity } from '../../tls/tls-files.js';

const TIMEOUT_MS = 3000;

function localAddress(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

function checkSshBanner(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error('did not answer in time')));
    socket.once('data', (data) => {
      socket.destroy();
      if (data.toString('latin1').startsWith('SSH-2.0-')) resolve();
      else reject(new Error('sshd answered without an SSH banner'));
    });
    socket.once('error', (error) => reject(new Error(`sshd: ${error.message}`)));
    // A peer that accepts and closes at once (sshd over MaxStartups) sends neither data nor an
    // error: without this the promise never settles, node runs out of work and exits 0.
    socket.once('close', () => reject(new Error('sshd closed the connection without an SSH banner')));
  });
}

/** GET /healthz on this machine; over HTTPS the served key must be the pinned one. */
function checkApi(config: Config): Promise<void> {
  const tls = readTlsIdentity(config);
  if (config.isHttps && !tls) return Promise.reject(new Error('API: no TLS certificate in the state directory'));
  const options = {
    host: localAddress(config.httpHost),
    port: config.httpPort,
    path: '/healthz',
    timeout: TIMEOUT_MS,
    ...(tls ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {}),
  };
  return new Promise((resolve, reject) => {
    const request = (tls ? httpsGet : httpGet)(options, (response) => {
      response.resume();
      if (tls) {
        const certificate = (response.socket as TLSSocket).getPeerX509Certificate();
        if (!certificate || publicKeyPin(certificate.toString()) !== tls.pin) {
          reject(new Error('API: serves another TLS key than the one in the state directory'));
          return;
        }
      }
      if (response.statusCode === 200) resolve();
      else reject(new Error(`API: /healthz answered ${response.statusCode}`));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => reject(new Error(`API: ${error.message}`)));
  });
}

function checkStateWritable(stateDir: string): void {
  const probe = `${stateDir}/.healthcheck-${process.pid}`;
  try {
    writeFileSync(probe, 'ok', { mode: 0o600 });
    unlinkSync(probe);
  } catch (error) {
    throw new Error(`state directory ${stateDir} is not writable: ${(error as Error).message}`);
  }
}

/** Exit status 0 when sshd answers, the API answers and the state volume takes writes. */
export async function healthcheck(config: Config): Promise<string[]> {
  const results = await Promise.allSettled([
    // sshd may listen on chosen addresses only (BORG_SERVER_SSH_LISTEN_ADDRESS): ask the first.
    checkSshBanner(localAddress(config.sshListenAddresses[0] ?? '127.0.0.1'), config.sshPort),
    checkApi(config),
    Promise.resolve().then(() => checkStateWritable(config.stateDir)),
  ]);
  return results.flatMap((result) => (result.status === 'rejected' ? [String((result.reason as Error).message)] : []));
}
