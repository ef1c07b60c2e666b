import type { Run } from '../process/run.js';

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
