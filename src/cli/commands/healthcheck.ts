import { constants, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type Config, statePaths } from '../../config.js';
import { judgeRootLiveness, MAX_LIVENESS_REPORT_BYTES, parseLivenessReport } from '../../domain/root-liveness.js';
import { publicKeyPin } from '../../identity/public-key-pin.js';
import { readTlsIdentity } from '../../identity/tls-identity.js';

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

/** Root's liveness report (at most MAX_LIVENESS_REPORT_BYTES and one byte more), or null when there is none. */
async function readLivenessReport(path: string): Promise<Buffer | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(MAX_LIVENESS_REPORT_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** What root's own report says of its loops (see domain/root-liveness.ts); never throws. */
async function checkRootLiveness(config: Config, now: () => Date): Promise<string[]> {
  const path = statePaths(config.stateDir).livenessFile;
  let content: Buffer | null;
  try {
    content = await readLivenessReport(path);
  } catch (error) {
    return [`root's liveness report ${path} cannot be read: ${(error as Error).message}`];
  }
  // borgctl serve writes it as soon as it starts (the image's HEALTHCHECK gives it a start period).
  if (content === null) return [`root has not reported yet (no ${path})`];
  if (content.length > MAX_LIVENESS_REPORT_BYTES) {
    return [`root's liveness report ${path} is malformed: larger than ${MAX_LIVENESS_REPORT_BYTES} bytes`];
  }
  const parsed = parseLivenessReport(content.toString('utf8'));
  if (!parsed.isValid) return [`root's liveness report ${path} is malformed: ${parsed.reason}`];
  return judgeRootLiveness(parsed.report, now(), config.rootStallSeconds * 1000);
}

/**
 * Exit status 0 when sshd answers, the API answers, the state volume takes
 * writes, and root has reported within its bound with every loop completing passes.
 */
export async function healthcheck(config: Config): Promise<string[]> {
  const [results, rootProblems] = await Promise.all([
    Promise.allSettled([
      // sshd may listen on chosen addresses only (BORG_SERVER_SSH_LISTEN_ADDRESS): ask the first.
      checkSshBanner(localAddress(config.sshListenAddresses[0] ?? '127.0.0.1'), config.sshPort),
      checkApi(config),
      Promise.resolve().then(() => checkStateWritable(config.stateDir)),
    ]),
    checkRootLiveness(config, () => new Date()),
  ]);
  return [
    ...results.flatMap((result) => (result.status === 'rejected' ? [String((result.reason as Error).message)] : [])),
    ...rootProblems,
  ];
}
