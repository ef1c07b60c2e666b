import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import {
  BUCKET_BYTES,
  countObjectsAfterSegment,
  findManifest,
  INDEX_HEADER_BYTES,
  type ObjectLocation,
  parseIndexHeader,
} from '../../domain/borg-index.js';
import { parseTransactionLog } from '../../domain/borg-transactions.js';

/**
 * Reads, as root, the few facts the session record needs from files borg
 * serve wrote into a host's repository: the object count and the manifest's
 * place from `index.N`, the commits from `transactions`. The host controls
 * these files, so: no link is followed, only a regular file the host owns is
 * read, and only a bounded part of it (the header and the buckets up to the
 * manifest, the log's tail). A file that is not what borg writes reads as null.
 */

const OPEN_FOR_READING = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const BUCKETS_PER_READ = 256;
/** The manifest is found within a few buckets of 0; a file that hides it further is not trusted for it. */
const MAX_BUCKETS_SEARCHED = 65_536;
const MAX_LOG_TAIL_BYTES = 65_536;
/** Buckets read at a time when the whole index is counted (2.5 MiB). */
const BUCKETS_PER_COUNT_READ = 65_536;

function withOwnFile<T>(path: string, ownerUid: number, read: (descriptor: number, size: number) => T): T | null {
  let descriptor: number;
  try {
    descriptor = openSync(path, OPEN_FOR_READING);
  } catch {
    return null;
  }
  try {
    const stats = fstatSync(descriptor);
    if (!stats.isFile() || stats.uid !== ownerUid) return null;
    return read(descriptor, stats.size);
  } finally {
    closeSync(descriptor);
  }
}

function readAt(descriptor: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const got = readSync(descriptor, buffer, 0, length, position);
  return buffer.subarray(0, got);
}

export interface IndexFacts {
  objects: number;
  manifest: ObjectLocation | null;
}

/** The object count and the manifest's place in the repository's index.N, or null. */
export function readIndexFacts(repository: string, lastCommitted: number, ownerUid: number): IndexFacts | null {
  if (lastCommitted < 0) return null;
  return withOwnFile(`${repository}/index.${lastCommitted}`, ownerUid, (descriptor, size) => {
    const header = parseIndexHeader(readAt(descriptor, 0, INDEX_HEADER_BYTES));
    if (header === null || INDEX_HEADER_BYTES + header.buckets * BUCKET_BYTES > size) return null;
    const limit = Math.min(header.buckets, MAX_BUCKETS_SEARCHED);
    for (let bucket = 0; bucket < limit; bucket += BUCKETS_PER_READ) {
      const count = Math.min(BUCKETS_PER_READ, limit - bucket);
      const search = findManifest(readAt(descriptor, INDEX_HEADER_BYTES + bucket * BUCKET_BYTES, count * BUCKET_BYTES));
      if ('found' in search) return { objects: header.entries, manifest: search.found };
    }
    return { objects: header.entries, manifest: null };
  });
}

/**
 * How many objects of the repository's index.N (the manifest not counted)
 * borg wrote after segment `segment`: every bucket is read, once, at the end of
 * a session that committed. Null when the index is not one borg wrote.
 */
export function countObjectsWrittenAfter(repository: string, lastCommitted: number, ownerUid: number, segment: number): number | null {
  if (lastCommitted < 0) return null;
  return withOwnFile(`${repository}/index.${lastCommitted}`, ownerUid, (descriptor, size) => {
    const header = parseIndexHeader(readAt(descriptor, 0, INDEX_HEADER_BYTES));
    if (header === null || INDEX_HEADER_BYTES + header.buckets * BUCKET_BYTES > size) return null;
    let count = 0;
    for (let bucket = 0; bucket < header.buckets; bucket += BUCKETS_PER_COUNT_READ) {
      const buckets = Math.min(BUCKETS_PER_COUNT_READ, header.buckets - bucket);
      count += countObjectsAfterSegment(readAt(descriptor, INDEX_HEADER_BYTES + bucket * BUCKET_BYTES, buckets * BUCKET_BYTES), segment);
    }
    return count;
  });
}

/** How many commits borg's transaction log (append-only repositories keep one) has after `before`, up to `after`; null without a log. */
export function countLoggedCommits(repository: string, before: number, after: number, ownerUid: number): number | null {
  return withOwnFile(`${repository}/transactions`, ownerUid, (descriptor, size) => {
    const start = Math.max(0, size - MAX_LOG_TAIL_BYTES);
    const text = readAt(descriptor, start, size - start).toString('utf8');
    return parseTransactionLog(text).filter((transaction) => transaction.id > before && transaction.id <= after).length;
  });
}
