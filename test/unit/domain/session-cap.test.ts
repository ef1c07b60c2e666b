import { describe, expect, it } from 'vitest';
import { type HostProcess, parseMaxSessions, sessionsOverCap } from '../../../src/domain/session-cap.js';
import { codeOf } from '../../support/error-codes.js';

const SSHD_MONITOR = 100; // root's sshd for each connection: not a host process, so not in the list.

/** One SSH connection of `uid` started at `startTicks`: sshd's child as the user, and borg serve below it. */
function connection(uid: number, leaderPid: number, startTicks: number, withBorgServe = true): HostProcess[] {
  const leader = { pid: leaderPid, parentPid: SSHD_MONITOR, uid, startTicks };
  return withBorgServe ? [leader, { pid: leaderPid + 1, parentPid: leaderPid, uid, startTicks: startTicks + 1 }] : [leader];
}

describe('sessionsOverCap', () => {
  it('leaves a host within its cap alone', () => {
    const processes = [...connection(20000, 10, 1000), ...connection(20000, 20, 1001)];
    expect(sessionsOverCap(processes, () => 2)).toEqual([]);
  });

  it('ends the newest sessions beyond the cap, each with every process in it', () => {
    const processes = [...connection(20000, 30, 1003), ...connection(20000, 10, 1000), ...connection(20000, 20, 1001, false)];
    expect(sessionsOverCap(processes, () => 1)).toEqual([{ uid: 20000, sessions: 3, maxSessions: 1, pidsToEnd: [20, 30, 31] }]);
  });

  it('counts a connection without a command (ssh -N) as a session', () => {
    const processes = [...connection(20000, 10, 1000, false), ...connection(20000, 20, 1001, false), ...connection(20000, 40, 1002, false)];
    expect(sessionsOverCap(processes, () => 2)).toEqual([{ uid: 20000, sessions: 3, maxSessions: 2, pidsToEnd: [40] }]);
  });

  it('counts each host against its own cap', () => {
    const processes = [
      ...connection(20000, 10, 1000),
      ...connection(20000, 20, 1001),
      ...connection(20001, 50, 999),
      ...connection(20001, 60, 1002),
    ];
    const caps = new Map([
      [20000, 2],
      [20001, 1],
    ]);
    expect(sessionsOverCap(processes, (uid) => caps.get(uid))).toEqual([{ uid: 20001, sessions: 2, maxSessions: 1, pidsToEnd: [60, 61] }]);
  });

  it('ignores processes of UIDs that are no active host', () => {
    const processes = [...connection(20000, 10, 1000), ...connection(20000, 20, 1001), ...connection(20000, 30, 1002)];
    expect(sessionsOverCap(processes, () => undefined)).toEqual([]);
  });

  it('counts a borg serve whose sshd is gone as a session of its own', () => {
    const orphan = { pid: 70, parentPid: 1, uid: 20000, startTicks: 1005 };
    expect(sessionsOverCap([...connection(20000, 10, 1000), orphan], () => 1)).toEqual([
      { uid: 20000, sessions: 2, maxSessions: 1, pidsToEnd: [70] },
    ]);
  });
});

describe('parseMaxSessions', () => {
  it.each([
    [1, 1],
    [2, 2],
    [100, 100],
    ['5', 5],
  ])('takes %j', (value, expected) => {
    expect(parseMaxSessions(value)).toBe(expected);
  });

  it.each([0, -1, 1.5, 101, '0', 'two', '', null, true])('refuses %j', (value) => {
    expect(codeOf(() => parseMaxSessions(value))).toBe('BAD_REQUEST');
  });
});
