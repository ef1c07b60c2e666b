import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { endSessionsOf, uidsInSession } from '../../../src/provision/sessions.js';

/** Sessions found in a fake /proc (pids above any pid_max, so no signal reaches a real process). */

const NAMESPACE = 'mnt:[4026531841]';
let procDir: string;

beforeEach(() => {
  procDir = mkdtempSync(join(tmpdir(), 'sbs-sessions-'));
  mkdirSync(join(procDir, 'self', 'ns'), { recursive: true });
  symlinkSync(NAMESPACE, join(procDir, 'self', 'ns', 'mnt'));
});

afterEach(() => rmSync(procDir, { recursive: true, force: true }));

function runningProcess(pid: number, uid: number): void {
  mkdirSync(join(procDir, String(pid), 'ns'), { recursive: true });
  writeFileSync(join(procDir, String(pid), 'status'), `Name:\tx\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  symlinkSync(NAMESPACE, join(procDir, String(pid), 'ns', 'mnt'));
}

describe('sessions', () => {
  it('finds the sessions of host UIDs', () => {
    runningProcess(99_999_001, 20_001);
    expect(uidsInSession(new Set([20_001, 20_002]), procDir)).toEqual(new Set([20_001]));
  });

  it('never counts or signals root or a system account, whatever UID a row gave', () => {
    runningProcess(99_999_001, 0);
    runningProcess(99_999_002, 100);
    expect(uidsInSession(new Set([0, 100]), procDir)).toEqual(new Set());
    expect(endSessionsOf(new Set([0, 100]), 'SIGKILL', procDir)).toBe(0);
  });
});
