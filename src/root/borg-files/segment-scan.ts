import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { lastCommittedTransaction, type SegmentFile } from '../../domain/borg-segments.js';

/**
 * Reads how much disk a borg repository's segments take, for the quota watch,
 * without trusting anything its host could have put there and without holding
 * up the supervisor:
 * - nothing is followed: `data` and `data/N` count only when they are real
 *   directories owned by the host, a segment only when it is a regular file
 *   (lstat); a link counts as one file (an inode), never as its target;
 * - usage is in blocks, not sizes;
 * - the work is asynchronous (each lstat and readdir runs on libuv's thread
 *   pool, so the event loop serves timers and signals between them: simpler
 *   than a worker thread, which would need its own copy of the cache and a
 *   message protocol), and bounded: at most `maxStatsPerLook` lstat calls per
 *   look; a look that runs out says so and the next one goes on where it left;
 * - what was read is kept: a segment directory whose mtime, ctime and inode
 *   are unchanged has the same entries, and committed segments never change
 *   (borg only appends to the segment of the open transaction, and compaction
 *   deletes whole segments), so only new entries and the segments above the
 *   last commit are read again.
 */

export interface SegmentOnDisk extends SegmentFile {
  path: string;
}

export interface RepositoryScan {
  /** The last committed transaction (borg's index.N), -1 when none. */
  lastCommitted: number;
  segments: SegmentOnDisk[];
  /** The segment directories read (data/N, real directories of the host's), empty ones too. */
  directories: string[];
  /** Files (inodes) under data/: segment directories, segments, and anything else there. */
  fileCount: number;
  /** Whether every entry was read in this look (false: the stat budget ran out; the numbers are a lower bound). */
  isComplete: boolean;
  statsUsed: number;
}

interface RememberedEntry {
  /** null: not a segment (another name, a link, a directory), counted as a file only. */
  segment: SegmentOnDisk | null;
  /** Read when it was already committed (or is no segment): it will not change. */
  isFinal: boolean;
}

interface DirectoryMemory {
  stamp: string;
  isComplete: boolean;
  entries: Map<string, RememberedEntry>;
}

export interface SegmentScanner {
  scan(repository: string, ownerUid: number): Promise<RepositoryScan>;
  /** lstat calls made so far, across looks (for tests that watch a scan progress). */
  readonly statsDone: number;
}

export const MAX_STATS_PER_LOOK = 20_000;

/** What is gone (or whose parent is no directory, such as a `repo` that is a file) reads as null. */
async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}

/** Whether the entry is a real directory (not a link to one) owned by the host. */
export function isOwnDirectory(stats: Stats | null, ownerUid: number): stats is Stats {
  return stats?.isDirectory() === true && stats.uid === ownerUid;
}

const stampOf = (stats: Stats) => `${stats.ino}:${stats.mtimeMs}:${stats.ctimeMs}`;

export function createSegmentScanner({ maxStatsPerLook = MAX_STATS_PER_LOOK }: { maxStatsPerLook?: number } = {}): SegmentScanner {
  const memory = new Map<string, Map<string, DirectoryMemory>>();
  let statsDone = 0;

  async function scan(repository: string, ownerUid: number): Promise<RepositoryScan> {
    let statsUsed = 0;
    const hasBudget = () => statsUsed < maxStatsPerLook;
    const counted = async (path: string) => {
      statsUsed += 1;
      statsDone += 1;
      return lstatOrNull(path);
    };

    const topEntries: { name: string; size: number }[] = [];
    for (const name of await readdirOrEmpty(repository)) {
      if (!/^index\.\d+$/.test(name)) continue;
      const stats = await counted(`${repository}/${name}`);
      if (stats?.isFile()) topEntries.push({ name, size: stats.size });
    }
    const lastCommitted = lastCommittedTransaction(topEntries);
    const dataDir = `${repository}/data`;
    const result: RepositoryScan = { lastCommitted, segments: [], directories: [], fileCount: 0, isComplete: true, statsUsed: 0 };
    if (!isOwnDirectory(await counted(dataDir), ownerUid)) {
      memory.delete(repository);
      result.statsUsed = statsUsed;
      return result;
    }
    const known = memory.get(repository) ?? new Map<string, DirectoryMemory>();
    memory.set(repository, known);
    const names = await readdirOrEmpty(dataDir);
    for (const name of known.keys()) if (!names.includes(name)) known.delete(name);
    for (const name of names) {
      result.fileCount += 1;
      if (!/^\d+$/.test(name)) continue;
      const directory = `${dataDir}/${name}`;
      if (!hasBudget()) {
        result.isComplete = false;
        addRemembered(result, known.get(name));
        continue;
      }
      const stats = await counted(directory);
      if (!isOwnDirectory(stats, ownerUid)) {
        known.delete(name);
        continue;
      }
      result.directories.push(directory);
      const stamp = stampOf(stats);
      let remembered = known.get(name);
      if (remembered === undefined || remembered.stamp !== stamp || !remembered.isComplete) {
        remembered = await readDirectory(directory, stamp, remembered);
        known.set(name, remembered);
      } else {
        await refreshUnfinished(directory, remembered);
      }
      if (!remembered.isComplete) result.isComplete = false;
      addRemembered(result, remembered);
    }
    result.segments.sort((a, b) => a.number - b.number);
    result.statsUsed = statsUsed;
    return result;

    async function readDirectory(directory: string, stamp: string, previous: DirectoryMemory | undefined): Promise<DirectoryMemory> {
      // The same directory (inode): what was read for good stays; a new one is read whole.
      const isSameDirectory = previous !== undefined && previous.stamp.split(':')[0] === stamp.split(':')[0];
      const entries = new Map<string, RememberedEntry>();
      let isComplete = true;
      for (const name of await readdirOrEmpty(directory)) {
        const before = isSameDirectory ? previous.entries.get(name) : undefined;
        if (before?.isFinal) {
          entries.set(name, before);
          continue;
        }
        if (!hasBudget()) {
          isComplete = false;
          if (before !== undefined) entries.set(name, before);
          continue;
        }
        const entry = await readEntry(directory, name);
        if (entry !== undefined) entries.set(name, entry);
      }
      return { stamp, isComplete, entries };
    }

    async function refreshUnfinished(directory: string, remembered: DirectoryMemory): Promise<void> {
      for (const [name, before] of remembered.entries) {
        if (before.isFinal) continue;
        if (!hasBudget()) {
          remembered.isComplete = false;
          return;
        }
        const entry = await readEntry(directory, name);
        if (entry === undefined) remembered.entries.delete(name);
        else remembered.entries.set(name, entry);
      }
    }

    /** The entry as it is now, or undefined when it went away. */
    async function readEntry(directory: string, name: string): Promise<RememberedEntry | undefined> {
      if (!/^\d+$/.test(name)) return { segment: null, isFinal: true };
      const path = `${directory}/${name}`;
      const stats = await counted(path);
      if (stats === null) return undefined;
      if (!stats.isFile()) return { segment: null, isFinal: true };
      const number = Number(name);
      return { segment: { number, path, usedBytes: stats.blocks * 512 }, isFinal: number <= lastCommitted };
    }
  }

  function addRemembered(result: RepositoryScan, remembered: DirectoryMemory | undefined): void {
    if (remembered === undefined) return;
    for (const { segment } of remembered.entries.values()) {
      result.fileCount += 1;
      if (segment !== null) result.segments.push(segment);
    }
  }

  return {
    scan,
    get statsDone() {
      return statsDone;
    },
  };
}
