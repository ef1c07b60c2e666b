import { describe, expect, it } from 'vitest';
import {
  judgeRootLiveness,
  type LoopLiveness,
  parseLivenessReport,
  type RootLivenessReport,
  renderLivenessReport,
} from '../../../src/domain/root-liveness.js';

const NOW = new Date('2026-11-27T03:00:00.000Z');
const BOUND_MS = 60_000;

function secondsBefore(seconds: number): Date {
  return new Date(NOW.getTime() - seconds * 1000);
}

function loop(intervalMs: number | null, lastCompletedSecondsAgo: number | null, runningForSeconds: number | null = null): LoopLiveness {
  return {
    intervalMs,
    lastCompletedAt: lastCompletedSecondsAgo === null ? null : secondsBefore(lastCompletedSecondsAgo),
    runningSince: runningForSeconds === null ? null : secondsBefore(runningForSeconds),
  };
}

/** A live root: written a second ago, started an hour ago, every loop on time. */
function liveReport(changes: Partial<RootLivenessReport> = {}, loops: Record<string, LoopLiveness> = {}): RootLivenessReport {
  return {
    pid: 4242,
    startedAt: secondsBefore(3600),
    writtenAt: secondsBefore(1),
    loops: {
      reconcile: loop(null, 600),
      'repository-watch': loop(250, 1),
      'session-limit': loop(500, 1),
      'check-schedule': loop(60_000, 30),
      reports: loop(250, 1),
      ...loops,
    },
    ...changes,
  };
}

describe('judgeRootLiveness', () => {
  it('finds nothing wrong when root reported lately and every loop completed a pass on time', () => {
    expect(judgeRootLiveness(liveReport(), NOW, BOUND_MS)).toEqual([]);
  });

  it('names root when its report is older than the bound, and nothing else', () => {
    const report = liveReport({ writtenAt: secondsBefore(80) }, { 'repository-watch': loop(250, 90) });
    expect(judgeRootLiveness(report, NOW, BOUND_MS)).toEqual(['root has not reported for 80 s']);
  });

  it('names root when its report is dated ahead by more than the bound: written before the clock was stepped back, and not since', () => {
    expect(judgeRootLiveness(liveReport({ writtenAt: secondsBefore(-3600) }), NOW, BOUND_MS)).toEqual([
      'root has not reported since the clock was stepped back (its last report is dated 3600 s ahead)',
    ]);
  });

  it('accepts a report dated a little ahead (a clock stepped back since root last wrote, within the bound)', () => {
    expect(judgeRootLiveness(liveReport({ writtenAt: secondsBefore(-5) }), NOW, BOUND_MS)).toEqual([]);
  });

  it('accepts a report exactly as old as the bound', () => {
    expect(judgeRootLiveness(liveReport({ writtenAt: secondsBefore(60) }), NOW, BOUND_MS)).toEqual([]);
  });

  it('names a loop on a timer whose last pass is older than its interval plus the bound', () => {
    const report = liveReport({}, { 'repository-watch': loop(250, 75) });
    expect(judgeRootLiveness(report, NOW, BOUND_MS)).toEqual(["root's repository watch has not completed a pass for 75 s"]);
  });

  it('says how long the pass a stuck loop is in has been running', () => {
    const report = liveReport({}, { 'repository-watch': loop(250, 75, 74) });
    expect(judgeRootLiveness(report, NOW, BOUND_MS)).toEqual([
      "root's repository watch has not completed a pass for 75 s (a pass has been running for 74 s)",
    ]);
  });

  it('gives a loop with a long interval that interval on top of the bound', () => {
    const onTime = liveReport({}, { 'check-schedule': loop(60_000, 119) });
    expect(judgeRootLiveness(onTime, NOW, BOUND_MS)).toEqual([]);
    const late = liveReport({}, { 'check-schedule': loop(60_000, 121) });
    expect(judgeRootLiveness(late, NOW, BOUND_MS)).toEqual(["root's integrity-check schedule has not completed a pass for 121 s"]);
  });

  it("counts a loop that has not completed a pass yet from root's start", () => {
    const young = liveReport({ startedAt: secondsBefore(20) }, { 'session-limit': loop(500, null), 'check-schedule': loop(60_000, null) });
    expect(judgeRootLiveness(young, NOW, BOUND_MS)).toEqual([]);
    const old = liveReport({ startedAt: secondsBefore(70) }, { 'session-limit': loop(500, null) });
    expect(judgeRootLiveness(old, NOW, BOUND_MS)).toEqual(["root's session cap has not completed a pass since root started 70 s ago"]);
  });

  it('names every stuck loop, one problem each', () => {
    const report = liveReport({}, { 'session-limit': loop(500, 90), 'check-schedule': loop(60_000, 200) });
    expect(judgeRootLiveness(report, NOW, BOUND_MS)).toEqual([
      "root's session cap has not completed a pass for 90 s",
      "root's integrity-check schedule has not completed a pass for 200 s",
    ]);
  });

  it('leaves an idle reconcile alone however long ago it last ran', () => {
    expect(judgeRootLiveness(liveReport({}, { reconcile: loop(null, 86_400) }), NOW, BOUND_MS)).toEqual([]);
    expect(judgeRootLiveness(liveReport({}, { reconcile: loop(null, null) }), NOW, BOUND_MS)).toEqual([]);
  });

  it('names reconcile when one pass has been running for longer than the bound', () => {
    expect(judgeRootLiveness(liveReport({}, { reconcile: loop(null, 600, 50) }), NOW, BOUND_MS)).toEqual([]);
    expect(judgeRootLiveness(liveReport({}, { reconcile: loop(null, 600, 90) }), NOW, BOUND_MS)).toEqual([
      "root's reconcile has been running a pass for 90 s",
    ]);
  });

  it('follows the bound it is given', () => {
    const report = liveReport({ writtenAt: secondsBefore(8) });
    expect(judgeRootLiveness(report, NOW, 5000)).toEqual(['root has not reported for 8 s']);
    expect(judgeRootLiveness(report, NOW, 10_000)).toEqual([]);
  });

  it('takes a clock stepped back for no time passed', () => {
    const report = liveReport({ writtenAt: new Date(NOW.getTime() + 30_000) }, { 'repository-watch': loop(250, -30) });
    expect(judgeRootLiveness(report, NOW, BOUND_MS)).toEqual([]);
  });

  it('names a loop it does not know by its key', () => {
    const report = liveReport({}, { 'quota-sweep': loop(1000, 100) });
    expect(judgeRootLiveness(report, NOW, BOUND_MS)).toEqual(["root's quota-sweep has not completed a pass for 100 s"]);
  });
});

describe('parseLivenessReport', () => {
  it('reads back what root writes', () => {
    const report = liveReport({}, { reconcile: loop(null, 600, 3) });
    expect(parseLivenessReport(renderLivenessReport(report))).toEqual({ isValid: true, report });
  });

  it.each([
    ['text that is not JSON', '{"pid": 1,', 'it is not JSON'],
    ['an empty file', '', 'it is not JSON'],
    ['JSON that is not an object', '[]', 'expected object'],
    ['a report without its time', JSON.stringify({ pid: 1, startedAt: NOW.toISOString(), loops: {} }), 'writtenAt:'],
    ['a time that is not one', JSON.stringify({ pid: 1, startedAt: NOW.toISOString(), writtenAt: 'yesterday', loops: {} }), 'writtenAt:'],
    [
      'a loop with a field too many',
      JSON.stringify({
        pid: 1,
        startedAt: NOW.toISOString(),
        writtenAt: NOW.toISOString(),
        loops: { reports: { intervalMs: 1, lastCompletedAt: null, runningSince: null, isFine: true } },
      }),
      'loops.reports:',
    ],
    [
      'a loop named with what is not a name',
      JSON.stringify({ pid: 1, startedAt: NOW.toISOString(), writtenAt: NOW.toISOString(), loops: { 'Bad Name\n': {} } }),
      'loops',
    ],
  ])('refuses %s, saying why on one line', (_label, text, reason) => {
    const parsed = parseLivenessReport(text);
    expect(parsed.isValid).toBe(false);
    expect(parsed.isValid ? '' : parsed.reason).toContain(reason);
    expect(parsed.isValid ? '' : parsed.reason).not.toContain('\n');
  });
});
