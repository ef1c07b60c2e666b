import { execa } from 'execa';
import { SYSTEM_PATH } from './system-path.js';

/**
 * Debian's ssh-audit (an external SSH audit tool) against an sshd, its text
 * report read note by note: each algorithm line and its continuation lines
 * carry [fail], [warn] or [info] notes.
 */

export interface SshAuditNote {
  /** kex, key, enc, mac, gen, cve… */
  section: string;
  algorithm: string;
  level: 'fail' | 'warn' | 'info';
  text: string;
}

export interface SshAuditReport {
  version: string;
  notes: SshAuditNote[];
  output: string;
}

const ALGORITHM_LINE = /^\((\w+)\) (\S+)(?: \([^)]*\))?\s*-- \[(fail|warn|info)\] (.*)$/;
const CONTINUATION_LINE = /^\s+`- \[(fail|warn|info)\] (.*)$/;

export function parseSshAuditOutput(output: string): SshAuditNote[] {
  const notes: SshAuditNote[] = [];
  let last: { section: string; algorithm: string } | undefined;
  for (const line of output.split('\n')) {
    const algorithm = ALGORITHM_LINE.exec(line);
    if (algorithm) {
      const [, section = '', name = '', level, text = ''] = algorithm;
      last = { section, algorithm: name };
      notes.push({ ...last, level: level as SshAuditNote['level'], text: text.trim() });
      continue;
    }
    const continuation = CONTINUATION_LINE.exec(line);
    if (continuation && last) {
      notes.push({ ...last, level: continuation[1] as SshAuditNote['level'], text: (continuation[2] ?? '').trim() });
      continue;
    }
    // A CVE ssh-audit knows for this version: a failure whatever its wording.
    const cve = /^\(cve\) (\S+)\s+-- (.*)$/.exec(line);
    if (cve) notes.push({ section: 'cve', algorithm: cve[1] ?? '', level: 'fail', text: (cve[2] ?? '').trim() });
  }
  return notes;
}

/** `ssh-audit -n -p PORT HOST`: no colours; its exit code says what the notes say, so it is not checked. */
export async function runSshAudit(host: string, port: number): Promise<SshAuditReport> {
  const environment = { env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8' }, extendEnv: false, reject: false, timeout: 60_000 } as const;
  const result = await execa('ssh-audit', ['-n', '-t', '20', '-p', String(port), host], environment);
  const output = `${result.stdout}\n${result.stderr}`;
  if (!/^\(gen\) banner: SSH-2\.0-/m.test(output)) throw new Error(`ssh-audit reached no SSH server at ${host}:${port}:\n${output}`);
  const help = await execa('ssh-audit', ['-h'], environment);
  const version = /ssh-audit v(\S+?),/.exec(`${help.stdout}${help.stderr}`)?.[1] ?? 'unknown';
  return { version, notes: parseSshAuditOutput(output), output };
}

/**
 * Notes that are no finding: "unknown algorithm" (names newer than this
 * ssh-audit: sntrup761x25519-sha512, mlkem768x25519-sha256, the strict-kex
 * marker kex-strict-s-v00@openssh.com). Nothing else is ignored.
 */
export function isIgnoredNote(note: SshAuditNote): boolean {
  return note.text === 'unknown algorithm';
}

/** The counts for the attack matrix: "ssh-audit 2.5.0: 0 fail, 0 warn, 14 info (3 notes ignored: …)". */
export function summarizeSshAudit(report: SshAuditReport): string {
  const counted = report.notes.filter((note) => !isIgnoredNote(note));
  const ignored = report.notes.filter(isIgnoredNote);
  const count = (level: SshAuditNote['level']) => counted.filter((note) => note.level === level).length;
  const ignoredText = ignored.map((note) => `${note.algorithm}: ${note.text}`).join('; ');
  return `ssh-audit ${report.version}: ${count('fail')} fail, ${count('warn')} warn, ${count('info')} info (ignored: ${ignoredText || 'none'})`;
}
