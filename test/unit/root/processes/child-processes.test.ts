import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { childProcesses, endProcessesAndWait } from '../../../../src/root/processes/child-processes.js';

let procDir: string;

function addProcess(pid: number, parentPid: number, state = 'S', startTicks = '100'): void {
  mkdirSync(join(procDir, String(pid)), { recursive: true });
  // comm with a space and a parenthesis, as sshd's "sshd: [rexeced]" shows in cmdline (stat has the short name).
  const rest = [state, String(parentPid), ...Array.from({ length: 17 }, () => '0'), startTicks, '0'];
  writeFileSync(join(procDir, String(pid), 'stat'), `${pid} (ss hd)) ${rest.join(' ')}\n`);
}

beforeEach(() => {
  procDir = mkdtempSync(join(tmpdir(), 'sbs-children-'));
});

afterEach(() => rmSync(procDir, { recursive: true, force: true }));

describe('childProcesses', () => {
  it('finds the live children of a process, not its grandchildren or zombies', () => {
    addProcess(10, 1);
    addProcess(11, 10, 'S', '201');
    addProcess(12, 10, 'Z');
    addProcess(13, 11);
    expect(childProcesses(10, procDir)).toEqual([{ pid: 11, startTicks: '201' }]);
  });
});

describe('endProcessesAndWait', () => {
  it('ends a real child process and waits until it is gone', async () => {
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => sleeper.on('exit', resolve));
    const [found] = childProcesses(process.pid).filter((child) => child.pid === sleeper.pid);
    expect(found).toBeDefined();
    const ended = endProcessesAndWait([found as { pid: number; startTicks: string }], { graceMs: 1000, timeoutMs: 10_000 });
    await exited;
    expect(await ended).toBe(true);
  });

  it('signals nobody when the PID now names another process (another start time)', async () => {
    addProcess(99_999_123, 10, 'S', '500');
    // Only the identity changed; the fake PID is above pid_max, so a signal would throw, not reach anyone.
    expect(await endProcessesAndWait([{ pid: 99_999_123, startTicks: '400' }], { graceMs: 0, timeoutMs: 1000, procDir })).toBe(true);
  });
});
