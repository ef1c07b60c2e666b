import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { judgeRootLiveness, parseLivenessReport, type RootLivenessReport } from '../../../../src/domain/root-liveness.js';
import { livenessWriteIntervalMs, type RootLiveness, startLiveness } from '../../../../src/root/serve/liveness.js';
import { codeOf } from '../../../support/error-codes.js';

/** Root's liveness recorder against a temporary directory, with a clock the test moves. */

const START = new Date('2026-11-27T03:00:00.000Z');
let base: string;
let runDir: string;
let path: string;
let clock: Date;
let liveness: RootLiveness | undefined;

function advanceSeconds(seconds: number): void {
  clock = new Date(clock.getTime() + seconds * 1000);
}

function start(): RootLiveness {
  liveness = startLiveness({
    path,
    logger: pino({ level: 'silent' }),
    now: () => clock,
    stallBoundMs: 60_000,
    monotonicMs: () => clock.getTime(),
  });
  return liveness;
}

async function writtenReport(recorder: RootLiveness): Promise<RootLivenessReport> {
  await recorder.writeReport();
  const parsed = parseLivenessReport(readFileSync(path, 'utf8'));
  if (!parsed.isValid) throw new Error(`the report is malformed: ${parsed.reason}`);
  return parsed.report;
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-liveness-'));
  runDir = join(base, 'run');
  path = join(runDir, 'liveness.json');
  clock = START;
});

afterEach(() => {
  liveness?.stop();
  liveness = undefined;
  rmSync(base, { recursive: true, force: true });
});

describe('startLiveness', () => {
  it('writes a report of every loop, none completed yet, into a directory only its user can enter', async () => {
    const report = await writtenReport(start());
    expect(report).toEqual({
      pid: process.pid,
      startedAt: START,
      writtenAt: START,
      loops: {
        reconcile: { intervalMs: null, lastCompletedAt: null, runningSince: null },
        'full-reconcile': { intervalMs: 600_000, lastCompletedAt: null, runningSince: null },
        'repository-watch': { intervalMs: 250, lastCompletedAt: null, runningSince: null },
        'session-limit': { intervalMs: 500, lastCompletedAt: null, runningSince: null },
        'check-schedule': { intervalMs: 60_000, lastCompletedAt: null, runningSince: null },
        reports: { intervalMs: 250, lastCompletedAt: null, runningSince: null },
      },
      faults: [],
    });
    expect(statSync(runDir).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('dates each time as long before the report as it was on the monotonic clock, so a stepped wall clock makes no loop late', async () => {
    let monotonic = 0;
    const recorder = startLiveness({
      path,
      logger: pino({ level: 'silent' }),
      now: () => clock,
      stallBoundMs: 60_000,
      monotonicMs: () => monotonic,
    });
    liveness = recorder;
    monotonic += 10_000;
    recorder.passCompleted('session-limit');
    monotonic += 2000;
    // The wall clock is stepped back an hour between the pass and the report: the pass is still 2 s old.
    clock = new Date(clock.getTime() - 3600_000);
    const report = await writtenReport(recorder);
    expect(report.writtenAt).toEqual(clock);
    expect(report.loops['session-limit']?.lastCompletedAt).toEqual(new Date(clock.getTime() - 2000));
    expect(report.startedAt).toEqual(new Date(clock.getTime() - 12_000));
  });

  it('writes the faults root sees now, for the healthcheck', async () => {
    liveness = startLiveness({
      path,
      logger: pino({ level: 'silent' }),
      now: () => clock,
      stallBoundMs: 60_000,
      faults: () => [{ code: 'SSHD_DOWN', message: 'sshd is not running' }],
    });
    expect((await writtenReport(liveness)).faults).toEqual([{ code: 'SSHD_DOWN', message: 'sshd is not running' }]);
  });

  it("counts a loop's lateness from when the loops started, not from a long start-up before", async () => {
    const recorder = start();
    advanceSeconds(90);
    recorder.loopsStarted();
    const report = await writtenReport(recorder);
    expect(report.startedAt).toEqual(clock);
    expect(judgeRootLiveness(report, clock, 60_000)).toEqual([]);
  });

  it('records a pass as running while it runs and completed when it resolves', async () => {
    const recorder = start();
    let finish: () => void = () => {};
    const pass = recorder.track(
      'repository-watch',
      new Promise<void>((resolve) => {
        finish = resolve;
      }),
    );
    advanceSeconds(3);
    expect((await writtenReport(recorder)).loops['repository-watch']).toEqual({
      intervalMs: 250,
      lastCompletedAt: null,
      runningSince: START,
    });
    finish();
    await pass;
    const completedAt = clock;
    advanceSeconds(2);
    const report = await writtenReport(recorder);
    expect(report.writtenAt).toEqual(clock);
    expect(report.loops['repository-watch']).toEqual({ intervalMs: 250, lastCompletedAt: completedAt, runningSince: null });
  });

  it('counts a pass handed in again while it runs as one pass, running since it was first handed in', async () => {
    const recorder = start();
    let finish: () => void = () => {};
    const pass = new Promise<void>((resolve) => {
      finish = resolve;
    });
    recorder.track('repository-watch', pass);
    advanceSeconds(1);
    recorder.track('repository-watch', pass);
    expect((await writtenReport(recorder)).loops['repository-watch']?.runningSince).toEqual(START);
    finish();
    await pass;
    expect((await writtenReport(recorder)).loops['repository-watch']?.runningSince).toBeNull();
  });

  it('does not count a pass that failed as completed', async () => {
    const recorder = start();
    await expect(recorder.track('check-schedule', Promise.reject(new Error('database locked')))).rejects.toThrow('database locked');
    expect((await writtenReport(recorder)).loops['check-schedule']).toEqual({
      intervalMs: 60_000,
      lastCompletedAt: null,
      runningSince: null,
    });
  });

  it('records each run of a wrapped task as a pass', async () => {
    const recorder = start();
    const reconcileNow = recorder.recordPasses('reconcile', async () => {
      advanceSeconds(4);
    });
    await reconcileNow();
    expect((await writtenReport(recorder)).loops.reconcile).toEqual({
      intervalMs: null,
      lastCompletedAt: new Date(START.getTime() + 4000),
      runningSince: null,
    });
  });

  it('records a synchronous pass when told it completed', async () => {
    const recorder = start();
    advanceSeconds(7);
    recorder.passCompleted('session-limit');
    expect((await writtenReport(recorder)).loops['session-limit']?.lastCompletedAt).toEqual(clock);
  });

  it('keeps a run directory that another part of root made, when no other user can write it', async () => {
    mkdirSync(runDir, { mode: 0o711 });
    chmodSync(runDir, 0o711);
    await writtenReport(start());
    expect(statSync(runDir).mode & 0o777).toBe(0o711);
  });

  it('refuses a run directory that others can write', () => {
    mkdirSync(runDir);
    chmodSync(runDir, 0o777);
    expect(codeOf(start)).toBe('UNSAFE_PATH');
  });

  it('refuses a link in place of the run directory', () => {
    mkdirSync(join(base, 'elsewhere'), { mode: 0o700 });
    symlinkSync(join(base, 'elsewhere'), runDir);
    expect(codeOf(start)).toBe('UNSAFE_PATH');
  });
});

describe('livenessWriteIntervalMs', () => {
  it('writes every 5 s for the default bound, and five times within a short one', () => {
    expect(livenessWriteIntervalMs(60_000)).toBe(5000);
    expect(livenessWriteIntervalMs(10_000)).toBe(2000);
    expect(livenessWriteIntervalMs(5000)).toBe(1000);
  });
});
