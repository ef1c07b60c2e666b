import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createQuietLooks, hasChildren } from '../../../../src/root/watch/quiet-looks.js';
import { waitFor } from '../../../support/wait-for.js';

/** sshd's listener in a fake /proc: its children file lists its connections. */
let procDir: string;
const LISTENER = 4_900_001;

beforeEach(() => {
  procDir = mkdtempSync(join(tmpdir(), 'sbs-quiet-looks-'));
  mkdirSync(join(procDir, String(LISTENER), 'task', String(LISTENER)), { recursive: true });
});

afterEach(() => rmSync(procDir, { recursive: true, force: true }));

function connections(pids: number[]): void {
  writeFileSync(join(procDir, String(LISTENER), 'task', String(LISTENER), 'children'), pids.map((pid) => `${pid} `).join(''));
}

describe('quiet looks (skipping the /proc scans while nothing can have changed)', () => {
  it('never skips before a look found nothing', () => {
    connections([]);
    const quiet = createQuietLooks({ listenerPid: () => LISTENER, procDir });
    expect(quiet.canSkip()).toBe(false);
    quiet.looked(1);
    expect(quiet.canSkip()).toBe(false);
  });

  it('skips while the last look found nothing and sshd has no connection', () => {
    connections([]);
    const quiet = createQuietLooks({ listenerPid: () => LISTENER, procDir });
    quiet.looked(0);
    expect(quiet.canSkip()).toBe(true);
    expect(quiet.canSkip()).toBe(true);
  });

  it('looks again as soon as sshd has a connection', () => {
    connections([]);
    const quiet = createQuietLooks({ listenerPid: () => LISTENER, procDir });
    quiet.looked(0);
    connections([4_900_002]);
    expect(quiet.canSkip()).toBe(false);
  });

  it('looks again after a reconcile (new hosts) until a look finds nothing', () => {
    connections([]);
    const quiet = createQuietLooks({ listenerPid: () => LISTENER, procDir });
    quiet.looked(0);
    quiet.wake();
    expect(quiet.canSkip()).toBe(false);
    quiet.looked(0);
    expect(quiet.canSkip()).toBe(true);
  });

  it('never skips when it cannot tell: no listener, or no children file', () => {
    const noListener = createQuietLooks({ listenerPid: () => undefined, procDir });
    noListener.looked(0);
    expect(noListener.canSkip()).toBe(false);
    const noFile = createQuietLooks({ listenerPid: () => LISTENER, procDir });
    noFile.looked(0);
    expect(noFile.canSkip()).toBe(false);
  });

  it("reads a real process's children from /proc", async () => {
    const parent = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    const leaf = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await waitFor('the shell to start its child', () => (hasChildren(parent.pid) ? true : undefined));
      expect(hasChildren(leaf.pid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
      leaf.kill('SIGKILL');
    }
  });
});
