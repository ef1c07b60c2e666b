import { unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Config } from '../../config.js';

const TIMEOUT_MS = 3000;

function localAddress(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

function checkSshBanner(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error('sshd did not answer in time')));
    socket.once('data', (data) => {
      socket.destroy();
      if (data.toString('latin1').startsWith('SSH-2.0-')) resolve();
      else reject(new Error('sshd answered without an SSH banner'));
    });
    socket.once('error', (error) => reject(new Error(`sshd: ${error.message}`)));
  });
}

async function checkApi(config: Config): Promise<void> {
  const url = `http://${localAddress(config.httpHost)}:${config.httpPort}/healthz`;
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((error: Error) => {
    throw new Error(`API: ${error.message}`);
  });
  if (!response.ok) throw new Error(`API: /healthz answered ${response.status}`);
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
    checkSshBanner(config.sshPort),
    checkApi(config),
    Promise.resolve().then(() => checkStateWritable(config.stateDir)),
  ]);
  return results.flatMap((result) => (result.status === 'rejected' ? [String((result.reason as Error).message)] : []));
}
