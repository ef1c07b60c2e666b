import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { breakStaleLock, listSegments, removeUncommittedSegments } from '../../../src/provision/repository-files.js';
import { writeSegment } from '../../support/borg-segment-files.js';

/** A pid no process can have (above any pid_max). */
const DEAD_PID = 99_999_999;

let repository: string;

beforeEach(() => {
  repository = mkdtempSync(join(tmpdir(), 'sbs-repository-'));
  mkdirSync(join(repository, 'data', '0'), { recursive: true });
});

afterEach(() => rmSync(repository, { recursive: true, force: true }));

describe('listSegments', () => {
  it('lists segment files with their sizes, the newest committed one marked', () => {
    writeSegment(repository, 0, 500, true);
    writeSegment(repository, 1, 17, true);
    writeSegment(repository, 2, 4000, false);
    expect(listSegments(repository).map(({ number, size, endsWithCommit }) => ({ number, size, endsWithCommit }))).toEqual([
      { number: 0, size: 500, endsWithCommit: false },
      { number: 1, size: 17, endsWithCommit: true },
      { number: 2, size: 4000, endsWithCommit: false },
    ]);
  });

  it('is empty for a directory that is no repository yet', () => {
    expect(listSegments(join(repository, 'nothing'))).toEqual([]);
  });
});

describe('removeUncommittedSegments', () => {
  it('removes the segments after the last commit and keeps the committed ones', () => {
    writeSegment(repository, 0, 500, true);
    writeSegment(repository, 1, 4000, false);
    writeSegment(repository, 2, 4000, false);
    expect(removeUncommittedSegments(repository)).toBe(2);
    expect(listSegments(repository).map((segment) => segment.number)).toEqual([0]);
  });

  it('removes nothing while a live process holds the lock', () => {
    writeSegment(repository, 0, 500, true);
    writeSegment(repository, 1, 4000, false);
    mkdirSync(join(repository, 'lock.exclusive'));
    writeFileSync(join(repository, 'lock.exclusive', `host@1.${process.pid}-0`), '');
    expect(removeUncommittedSegments(repository)).toBe(0);
    expect(listSegments(repository)).toHaveLength(2);
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
