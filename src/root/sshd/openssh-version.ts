import { readFileSync } from 'node:fs';
import type { Run } from '../../process/run.js';
import { hasAesInstructions, parseAlgorithmList } from './ssh-algorithms.js';

export interface OpenSshVersion {
  major: number;
  minor: number;
}

/** `sshd -V` prints e.g. "OpenSSH_9.2, OpenSSL 3.0.19" on standard error. */
export function parseOpenSshVersion(text: string): OpenSshVersion | null {
  const match = /OpenSSH_(\d+)\.(\d+)/.exec(text);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : null;
}

export async function readOpenSshVersion(run: Run): Promise<OpenSshVersion | null> {
  const result = await run('/usr/sbin/sshd', ['-V'], { timeoutMs: 10_000 });
  return parseOpenSshVersion(`${result.stderr}${result.stdout}`);
}

export function isAtLeast(version: OpenSshVersion | null, major: number, minor: number): boolean {
  return version !== null && (version.major > major || (version.major === major && version.minor >= minor));
}

/**
 * The key exchange algorithms this OpenSSH build knows (client and server
 * share them; Debian's openssh-server depends on the client of the same
 * version). Null when it cannot be asked: the config then names only what
 * every supported version has.
 */
async function readSupportedKex(run: Run): Promise<Set<string> | null> {
  try {
    const result = await run('/usr/bin/ssh', ['-Q', 'kex'], { timeoutMs: 10_000 });
    return parseAlgorithmList(result.stdout);
  } catch {
    return null;
  }
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** What the algorithm choice in sshd_config depends on: the installed OpenSSH's key exchanges and the CPU. */
export async function readAlgorithmSupport(run: Run): Promise<{ supportedKex: Set<string> | null; hasAesInstructions: boolean }> {
  return { supportedKex: await readSupportedKex(run), hasAesInstructions: hasAesInstructions(readCpuinfo()) };
}
