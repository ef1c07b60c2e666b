import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderAccountFiles } from '../../../../src/root/accounts/account-files.js';
import { parseServerAccounts, type ServerUids, serverUidsAmong } from '../../../../src/root/accounts/server-accounts.js';
import { endSessionsAndWait, endSessionsOf, processesOf, uidsInSession } from '../../../../src/root/processes/sessions.js';
import { SYSTEM_PASSWD, serverAccountsIn, writeAccountDatabase } from '../../../support/account-database.js';
import { waitFor } from '../../../support/wait-for.js';

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

/** The server UIDs among `uids`: those with an account in a passwd as reconcile writes it (web1 20001, web2 20002). */
function serverUids(uids: number[]): ServerUids {
  const passwd = renderAccountFiles({ passwd: SYSTEM_PASSWD, group: '', shadow: '' }, [
    { name: 'web1', uid: 20_001, home: '/backups/web1' },
    { name: 'web2', uid: 20_002, home: '/backups/web2' },
  ]).passwd;
  return serverUidsAmong(parseServerAccounts(passwd, '/backups'), uids);
}

describe('sessions', () => {
  it('finds the sessions of host UIDs', () => {
    runningProcess(99_999_001, 20_001);
    expect(uidsInSession(serverUids([20_001, 20_002]), procDir)).toEqual(new Set([20_001]));
  });

  it('finds no session of a UID whose account the server did not make: it is no server UID', () => {
    runningProcess(99_999_001, 54_321);
    expect(uidsInSession(serverUids([54_321]), procDir)).toEqual(new Set());
  });

  it('takes the last pass over /proc only when asked to and it is recent enough, else reads /proc again', () => {
    runningProcess(99_999_001, 20_001);
    const uids = serverUids([20_001, 20_002]);
    expect(processesOf(uids, procDir)).toEqual([{ pid: 99_999_001, uid: 20_001 }]);
    runningProcess(99_999_002, 20_002);
    // The session limit, in the same tick as the repository watch's pass: that pass will do.
    expect(processesOf(uids, procDir, { reuseWithinMs: 60_000 })).toEqual([{ pid: 99_999_001, uid: 20_001 }]);
    // Everyone else reads /proc again (and that pass is the one reused next).
    expect(processesOf(uids, procDir)).toEqual([
      { pid: 99_999_001, uid: 20_001 },
      { pid: 99_999_002, uid: 20_002 },
    ]);
    expect(processesOf(serverUids([20_002]), procDir, { reuseWithinMs: 60_000 })).toEqual([{ pid: 99_999_002, uid: 20_002 }]);
    // Another /proc is never answered from this one's pass.
    const otherProc = mkdtempSync(join(tmpdir(), 'sbs-sessions-other-'));
    try {
      mkdirSync(join(otherProc, 'self', 'ns'), { recursive: true });
      symlinkSync(NAMESPACE, join(otherProc, 'self', 'ns', 'mnt'));
      expect(processesOf(uids, otherProc, { reuseWithinMs: 60_000 })).toEqual([]);
    } finally {
      rmSync(otherProc, { recursive: true, force: true });
    }
  });

  it('never counts or signals root or a system account, even when given them as server UIDs', () => {
    runningProcess(99_999_001, 0);
    runningProcess(99_999_002, 100);
    // Only a cast makes such a set: server-accounts.ts never does (a server account has a host-range UID).
    const forged = new Set([0, 100]) as unknown as ServerUids;
    expect(uidsInSession(forged, procDir)).toEqual(new Set());
    expect(endSessionsOf(forged, 'SIGKILL', procDir)).toBe(0);
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
