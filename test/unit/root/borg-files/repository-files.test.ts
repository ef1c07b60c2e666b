import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { breakStaleLock, removeUncommittedSegments } from '../../../../src/root/borg-files/repository-files.js';
import { createSegmentScanner } from '../../../../src/root/borg-files/segment-scan.js';
import { writeSegment } from '../../../support/borg-segment-files.js';

/** A pid no process can have (above any pid_max). */
const DEAD_PID = 99_999_999;

let repository: string;

beforeEach(() => {
  repository = mkdtempSync(join(tmpdir(), 'sbs-repository-'));
  mkdirSync(join(repository, 'data', '0'), { recursive: true });
});

afterEach(() => rmSync(repository, { recursive: true, force: true }));

describe('removeUncommittedSegments', () => {
  const ownerUid = process.getuid?.() ?? 0;
  const scanOf = () => createSegmentScanner().scan(repository, ownerUid);
  const numbers = async () => (await scanOf()).segments.map((segment) => segment.number);

  it('removes the segments after the last commit and keeps the committed ones', async () => {
    writeSegment(repository, 0, 500, true);
    writeSegment(repository, 1, 4000, false);
    writeSegment(repository, 2, 4000, false);
    expect(removeUncommittedSegments(repository, ownerUid, await scanOf())).toBe(2);
    expect(await numbers()).toEqual([0]);
  });

  it('removes nothing while a live process holds the lock', async () => {
    writeSegment(repository, 0, 500, true);
    writeSegment(repository, 1, 4000, false);
    mkdirSync(join(repository, 'lock.exclusive'));
    writeFileSync(join(repository, 'lock.exclusive', `host@1.${process.pid}-0`), '');
    expect(removeUncommittedSegments(repository, ownerUid, await scanOf())).toBe(0);
    expect(await numbers()).toEqual([0, 1]);
  });

  it('removes nothing through a segment directory that was swapped for a link since the scan', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'sbs-outside-'));
    try {
      writeSegment(repository, 0, 500, true);
      writeSegment(repository, 1, 4000, false);
      const scan = await scanOf();
      writeSegment(outside, 1, 4000, false);
      rmSync(join(repository, 'data', '0'), { recursive: true });
      symlinkSync(join(outside, 'data', '0'), join(repository, 'data', '0'));
      expect(removeUncommittedSegments(repository, ownerUid, scan)).toBe(0);
      expect(existsSync(join(outside, 'data', '0', '1'))).toBe(true);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('breakStaleLock', () => {
  it('removes a lock whose holder has ended', () => {
    mkdirSync(join(repository, 'lock.exclusive'));
    writeFileSync(join(repository, 'lock.exclusive', `host@1.${DEAD_PID}-7f`), '');
    writeFileSync(join(repository, 'lock.roster'), '{}');
    expect(breakStaleLock(repository)).toBe(true);
    expect(existsSync(join(repository, 'lock.exclusive'))).toBe(false);
    expect(existsSync(join(repository, 'lock.roster'))).toBe(false);
  });

  it('keeps a lock a live process holds', () => {
    mkdirSync(join(repository, 'lock.exclusive'));
    writeFileSync(join(repository, 'lock.exclusive', `host@1.${process.pid}-7f`), '');
    expect(breakStaleLock(repository)).toBe(false);
    expect(existsSync(join(repository, 'lock.exclusive'))).toBe(true);
  });

  it('is true when there is no lock', () => {
    expect(breakStaleLock(repository)).toBe(true);
  });
});
