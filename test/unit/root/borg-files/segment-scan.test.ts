import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { segmentUsage } from '../../../../src/domain/borg-segments.js';
import { createSegmentScanner } from '../../../../src/root/borg-files/segment-scan.js';
import { COMMIT_ENTRY, markCommitted, writeSegment } from '../../../support/borg-segment-files.js';

/** Real files in a temporary directory; the test's own UID plays the host. */
const ownerUid = process.getuid?.() ?? 0;
const BLOCK = 4096;

let base: string;
let repository: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-scan-'));
  repository = join(base, 'repo');
  mkdirSync(join(repository, 'data', '0'), { recursive: true });
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

function tinySegments(count: number, firstNumber = 0): void {
  for (let number = firstNumber; number < firstNumber + count; number += 1) {
    const directory = join(repository, 'data', String(Math.floor(number / 1000)));
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, String(number)), 'BORG_SEG!');
  }
}

describe('the segment scan', () => {
  it("takes the last commit from borg's index.N, not from a segment that ends with the commit entry's bytes", async () => {
    writeSegment(repository, 0, 5000, true);
    // A PUT whose data ends with the commit tag bytes: the segment ends like a committed one.
    writeSegment(repository, 1, 5000, false);
    appendFileSync(join(repository, 'data', '0', '1'), COMMIT_ENTRY);
    const scan = await createSegmentScanner().scan(repository, ownerUid);
    expect(scan.lastCommitted).toBe(0);
    expect(segmentUsage(scan.segments, scan.lastCommitted).uncommitted).toEqual([1]);
  });

  it('counts a sparse segment by the blocks it takes, not by its size', async () => {
    writeFileSync(join(repository, 'data', '0', '0'), 'BORG_SEG');
    truncateSync(join(repository, 'data', '0', '0'), 100_000_000);
    const [segment] = (await createSegmentScanner().scan(repository, ownerUid)).segments;
    expect(segment?.usedBytes).toBeLessThanOrEqual(2 * BLOCK);
  });

  it('counts each tiny segment as the whole block it takes', async () => {
    tinySegments(100);
    const scan = await createSegmentScanner().scan(repository, ownerUid);
    expect(segmentUsage(scan.segments, -1).uncommittedBytes).toBe(100 * BLOCK);
    expect(scan.fileCount).toBe(101);
  });

  it('does a bounded amount of work per look and goes on at the next look', async () => {
    tinySegments(50);
    markCommitted(repository, 49);
    const scanner = createSegmentScanner({ maxStatsPerLook: 20 });
    const looks = [];
    for (let look = 0; look < 4; look += 1) looks.push(await scanner.scan(repository, ownerUid));
    expect(looks.map((scan) => scan.statsUsed)).toEqual([20, 20, 19, 3]);
    expect(looks.map((scan) => scan.isComplete)).toEqual([false, false, true, true]);
    expect(looks[0]?.segments.length).toBeLessThan(50);
    expect(looks[3]?.segments).toHaveLength(50);
  });

  it('reads an uncommitted segment again at every look, and once more after its commit', async () => {
    writeSegment(repository, 0, 5000, true);
    tinySegments(1, 1);
    const scanner = createSegmentScanner();
    const usedBy1 = async () => (await scanner.scan(repository, ownerUid)).segments.find((segment) => segment.number === 1)?.usedBytes;
    expect(await usedBy1()).toBe(BLOCK);
    appendFileSync(join(repository, 'data', '0', '1'), Buffer.alloc(3 * BLOCK));
    expect(await usedBy1()).toBe(4 * BLOCK);
    appendFileSync(join(repository, 'data', '0', '1'), Buffer.alloc(BLOCK));
    markCommitted(repository, 1);
    expect(await usedBy1()).toBe(5 * BLOCK);
  });

  it("leaves the event loop free while it reads many segments (a timer runs between the scan's steps)", async () => {
    tinySegments(3000);
    const scanner = createSegmentScanner();
    const seenMidway = new Set<number>();
    let isDone = false;
    const tick = () => {
      if (isDone) return;
      if (scanner.statsDone > 0) seenMidway.add(scanner.statsDone);
      setImmediate(tick);
    };
    setImmediate(tick);
    const scan = await scanner.scan(repository, ownerUid);
    isDone = true;
    expect(scan.segments).toHaveLength(3000);
    // A scan that held the event loop would let the timer see nothing but its end.
    expect([...seenMidway].filter((stats) => stats < scan.statsUsed).length).toBeGreaterThan(100);
  });

  it("follows no link: neither a segment directory that points elsewhere nor a segment that is a link to someone's file", async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, '7'), Buffer.alloc(1_000_000));
    writeFileSync(join(base, 'big-root-file'), Buffer.alloc(2_000_000));
    rmSync(join(repository, 'data', '0'), { recursive: true });
    symlinkSync(outside, join(repository, 'data', '0'));
    mkdirSync(join(repository, 'data', '1'));
    symlinkSync(join(base, 'big-root-file'), join(repository, 'data', '1', '1001'));
    const scan = await createSegmentScanner().scan(repository, ownerUid);
    expect(scan.segments).toEqual([]);
    // Each link is a file (an inode) of the repository, nothing more.
    expect(scan.fileCount).toBe(3);
  });

  it('counts nothing when the repository is a file', async () => {
    rmSync(repository, { recursive: true });
    writeFileSync(repository, 'not a repository');
    expect(await createSegmentScanner().scan(repository, ownerUid)).toMatchObject({ segments: [], fileCount: 0 });
  });

  it("counts nothing in a data directory that is not the host's own", async () => {
    writeSegment(repository, 0, 5000, true);
    expect((await createSegmentScanner().scan(repository, ownerUid + 1)).segments).toEqual([]);
  });
});
