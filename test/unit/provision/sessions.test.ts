import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { endSessionsAndWait, endSessionsOf, uidsInSession } from '../../../src/provision/sessions.js';
import { serverAccountsIn, writeAccountDatabase } from '../../support/account-database.js';
import { waitFor } from '../../support/wait-for.js';

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

  it.runIf(process.getuid?.() === 0)(
    "at shutdown, ends the sessions of every account the server made and no process of another account's",
    async () => {
      // Real processes in this test's own mount namespace: the shutdown looks in the real /proc.
      const serverUid = 20_778;
      const foreignUid = 54_321;
      const etcDir = join(procDir, 'etc');
      writeAccountDatabase(etcDir, '/backups', [{ name: 'web1', uid: serverUid }]);
      const start = (uid: number) =>
        execa('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sleep', '600'], { reject: false });
      const host = start(serverUid);
      const foreign = start(foreignUid);
      try {
        for (const [started, uid] of [
          [host, serverUid],
          [foreign, foreignUid],
        ] as const) {
          await waitFor('the process to run', async () =>
            (await readFile(`/proc/${started.pid}/status`, 'utf8')).includes(`Uid:\t${uid}`) ? true : undefined,
          );
        }
        expect(await endSessionsAndWait(serverAccountsIn(etcDir, '/backups').all(), { graceMs: 100, timeoutMs: 5000 })).toBe(true);
        expect((await host).signal).toBe('SIGTERM');
        expect(await readFile(`/proc/${foreign.pid}/status`, 'utf8')).toContain(`Uid:\t${foreignUid}`);
      } finally {
        host.kill('SIGKILL');
        foreign.kill('SIGKILL');
      }
    },
  );
});
