import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../../../src/domain/faults.js';
import { CHILD_STARTUP_MS, type FaultWatch, isChildDown, startFaultWatch } from '../../../../src/root/serve/fault-watch.js';

/** Root's fault watch with real directories for its volumes and stand-ins for its children and clock. */

let directory: string;
let watch: FaultWatch | undefined;
let lines: { level: number; fault?: string; msg: string }[];
let changes: Fault[][];
let nowMs: number;
let sshd: { upForMs: number | null; restarts: number };

function start(): FaultWatch {
  watch = startFaultWatch({
    stateProbePath: join(directory, 'state', '.fault-probe'),
    backupDir: join(directory, 'backups'),
    sshd: () => ({ upForMs: () => sshd.upForMs, restarts: () => sshd.restarts }),
    api: () => ({ upForMs: () => 600_000, restarts: () => 0 }),
    logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    nowMs: () => nowMs,
    onChange: (faults) => changes.push(faults),
  });
  return watch;
}

beforeEach(() => {
  // The two volumes: directories on this machine's temporary file system, which is neither full nor read-only.
  directory = mkdtempSync(join(tmpdir(), 'sbs-fault-watch-'));
  for (const name of ['state', 'backups']) mkdirSync(join(directory, name));
  lines = [];
  changes = [];
  nowMs = Date.parse('2026-12-05T12:00:00Z');
  sshd = { upForMs: 600_000, restarts: 0 };
});

afterEach(() => {
  watch?.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe("root's fault watch", () => {
  it('sees no fault on writable volumes, with its children up and the clock going forward, and leaves no probe file', () => {
    expect(start().check()).toEqual([]);
    expect(readdirSync(join(directory, 'state'))).toEqual([]);
    expect(lines).toEqual([]);
    expect(changes).toEqual([]);
  });

  it('sees sshd down from its exit until a restarted one has run long enough to count, logging each edge once', () => {
    const faults = start();
    sshd = { upForMs: null, restarts: 1 };
    expect(faults.check().map((fault) => fault.code)).toEqual(['SSHD_DOWN']);
    // Started again, and it exits at once (its port is taken): still the same episode.
    sshd = { upForMs: 10, restarts: 2 };
    expect(faults.check().map((fault) => fault.code)).toEqual(['SSHD_DOWN']);
    sshd = { upForMs: null, restarts: 2 };
    faults.check();
    sshd = { upForMs: CHILD_STARTUP_MS, restarts: 3 };
    expect(faults.check()).toEqual([]);
    expect(lines.map(({ level, fault, msg }) => ({ level, fault, msg }))).toEqual([
      { level: 50, fault: 'SSHD_DOWN', msg: 'fault began: sshd is not running: the server starts it again' },
      { level: 30, fault: 'SSHD_DOWN', msg: 'fault ended: SSHD_DOWN' },
    ]);
    expect(changes.map((list) => list.map((fault) => fault.code))).toEqual([['SSHD_DOWN'], []]);
  });

  it('sees the clock stepped back an hour until it is past the latest time it saw, or set right', () => {
    const faults = start();
    nowMs += 10_000;
    faults.check();
    const latest = nowMs;
    nowMs = latest - 3600_000;
    expect(faults.check().map((fault) => fault.code)).toEqual(['CLOCK_STEPPED_BACK']);
    nowMs = latest - 1800_000;
    expect(faults.check().map((fault) => fault.code)).toEqual(['CLOCK_STEPPED_BACK']);
    nowMs = latest + 1000;
    expect(faults.check()).toEqual([]);
    expect(lines.map((line) => line.fault)).toEqual(['CLOCK_STEPPED_BACK', 'CLOCK_STEPPED_BACK']);
  });
});

describe('isChildDown', () => {
  it('counts a child not started yet as not down, and the first one up at once', () => {
    expect(isChildDown(undefined)).toBe(false);
    expect(isChildDown({ upForMs: () => 1, restarts: () => 0 })).toBe(false);
  });

  it('counts a child down while none runs, and while a restarted one has not yet run long enough', () => {
    expect(isChildDown({ upForMs: () => null, restarts: () => 0 })).toBe(true);
    expect(isChildDown({ upForMs: () => CHILD_STARTUP_MS - 1, restarts: () => 1 })).toBe(true);
    expect(isChildDown({ upForMs: () => CHILD_STARTUP_MS, restarts: () => 1 })).toBe(false);
  });
});
