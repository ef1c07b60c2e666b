import { constants, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type Config, statePaths } from '../../config.js';
import { type Fault, faultListSchema, faultOfErrno } from '../../domain/faults.js';
import { judgeRootLiveness, MAX_LIVENESS_REPORT_BYTES, parseLivenessReport } from '../../domain/root-liveness.js';
import { publicKeyPin } from '../../identity/public-key-pin.js';
import { readTlsIdentity } from '../../identity/tls-identity.js';

const TIMEOUT_MS = 3000;
/** A /healthz body is a few reasons: read no more than this of it. */
const MAX_HEALTH_BODY_CHARACTERS = 16 * 1024;

function describeFault(fault: Fault): string {
  return `${fault.code}: ${fault.message}`;
}

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

/** The reasons a 503 from /healthz names (`{ status, reasons: [{ code, message }] }`), as `CODE: message` lines; none when it names none. */
function reasonsOf(body: string): string[] {
  try {
    const parsed = faultListSchema.safeParse((JSON.parse(body) as { reasons?: unknown }).reasons);
    return parsed.success ? parsed.data.map(describeFault) : [];
  } catch {
    return [];
  }
}

/** GET /healthz on this machine; over HTTPS the served key must be the pinned one. Resolves with the problems it names. */
function checkApi(config: Config): Promise<string[]> {
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
      if (tls) {
        const certificate = (response.socket as TLSSocket).getPeerX509Certificate();
        if (!certificate || publicKeyPin(certificate.toString()) !== tls.pin) {
          response.resume();
          reject(new Error('API: serves another TLS key than the one in the state directory'));
          return;
        }
      }
      if (response.statusCode === 200) {
        response.resume();
        resolve([]);
        return;
      }
      // The API's own faults and those root told it of: each reason on its own line.
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < MAX_HEALTH_BODY_CHARACTERS) body += chunk;
      });
      response.on('end', () => {
        const reasons = reasonsOf(body);
        resolve(reasons.length > 0 ? reasons : [`API: /healthz answered ${response.statusCode}`]);
      });
      response.on('error', (error) => reject(new Error(`API: ${error.message}`)));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => reject(new Error(`API: ${error.message}`)));
  });
}

/** Why the state directory takes no write (a full or read-only volume named by its reason code), or null. */
function checkStateWritable(stateDir: string): string | null {
  const probe = `${stateDir}/.healthcheck-${process.pid}`;
  try {
    writeFileSync(probe, 'ok', { mode: 0o600 });
    unlinkSync(probe);
    return null;
  } catch (error) {
    const fault = faultOfErrno((error as NodeJS.ErrnoException).code, 'state');
    const problem = `state directory ${stateDir} is not writable: ${(error as Error).message}`;
    return fault ? `${fault.code}: ${problem}` : problem;
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

/** What root's own report says of its loops and the faults it sees (see domain/root-liveness.ts); never throws. */
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
  return [...judgeRootLiveness(parsed.report, now(), config.rootStallSeconds * 1000), ...(parsed.report.faults ?? []).map(describeFault)];
}

/**
 * Exit status 0 when sshd answers, the API answers, the state volume takes
 * writes, and root has reported within its bound with every loop completing
 * passes and no fault. Each problem once, faults as `CODE: message`.
 */
export async function healthcheck(config: Config): Promise<string[]> {
  const stateProblem = checkStateWritable(config.stateDir);
  const [results, rootProblems] = await Promise.all([
    Promise.allSettled([
      // sshd may listen on chosen addresses only (BORG_SERVER_SSH_LISTEN_ADDRESS): ask the first.
      checkSshBanner(localAddress(config.sshListenAddresses[0] ?? '127.0.0.1'), config.sshPort).then(() => []),
      checkApi(config),
    ]),
    // Root cannot write its report on a state volume that takes no writes: its age says nothing then.
    stateProblem === null ? checkRootLiveness(config, () => new Date()) : Promise.resolve([]),
  ]);
  const problems = [
    ...results.flatMap((result) => (result.status === 'rejected' ? [String((result.reason as Error).message)] : result.value)),
    ...(stateProblem === null ? [] : [stateProblem]),
    ...rootProblems,
  ];
  // A fault shows in more than one place (the API, root's report, the probe here): each code once, the first said.
  const codes = new Set<string>();
  return [...new Set(problems)].filter((problem) => {
    const code = /^([A-Z][A-Z_]+): /.exec(problem)?.[1];
    if (code === undefined) return true;
    if (codes.has(code)) return false;
    codes.add(code);
    return true;
  });
}
