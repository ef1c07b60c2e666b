/**
 * borg 1.x's repository index (`index.N`, written by borg serve at each
 * commit; src/borg/_hashindex.c): a header (`BORG_IDX`, num_entries int32,
 * num_buckets int32, key_size int8, value_size int8, little-endian), then
 * num_buckets buckets of key (32 bytes) and value (segment uint32, offset
 * uint32). A bucket whose segment is 0xffffffff is empty, 0xfffffffe deleted.
 * A key's first bucket is its first four bytes (little-endian) modulo
 * num_buckets, then the next ones (open addressing). The manifest's key is 32
 * zero bytes, so its search starts at bucket 0.
 */
export const INDEX_HEADER_BYTES = 18;
const MAGIC = 'BORG_IDX';
const KEY_BYTES = 32;
const VALUE_BYTES = 8;
export const BUCKET_BYTES = KEY_BYTES + VALUE_BYTES;
const EMPTY = 0xffffffff;
const DELETED = 0xfffffffe;

export interface BorgIndexHeader {
  entries: number;
  buckets: number;
}

export interface ObjectLocation {
  segment: number;
  offset: number;
}

/** The header, or null when it is none of a borg 1.x repository index. */
export function parseIndexHeader(header: Buffer): BorgIndexHeader | null {
  if (header.length < INDEX_HEADER_BYTES || header.toString('latin1', 0, 8) !== MAGIC) return null;
  const entries = header.readInt32LE(8);
  const buckets = header.readInt32LE(12);
  if (header.readInt8(16) !== KEY_BYTES || header.readInt8(17) !== VALUE_BYTES || entries < 0 || buckets <= 0) return null;
  return { entries, buckets };
}

export type BucketSearch = { found: ObjectLocation | null } | { readMore: true };

/**
 * Looks for the manifest in consecutive buckets read from bucket 0: found
 * (or null: an empty bucket ends the search, so there is none), or more
 * buckets are needed.
 */
export function findManifest(buckets: Buffer): BucketSearch {
  for (let start = 0; start + BUCKET_BYTES <= buckets.length; start += BUCKET_BYTES) {
    const segment = buckets.readUInt32LE(start + KEY_BYTES);
    if (segment === EMPTY) return { found: null };
    if (segment === DELETED) continue;
    if (buckets.subarray(start, start + KEY_BYTES).every((byte) => byte === 0)) {
      return { found: { segment, offset: buckets.readUInt32LE(start + KEY_BYTES + 4) } };
    }
  }
  return { readMore: true };
}

/**
 * How many objects in these buckets borg wrote after segment `segment` (the
 * manifest, whose key is all zeros, not counted): in an append-only
 * repository an object already there keeps its place, so these are the
 * objects a session added after the commit it started from.
 */
export function countObjectsAfterSegment(buckets: Buffer, segment: number): number {
  let count = 0;
  for (let start = 0; start + BUCKET_BYTES <= buckets.length; start += BUCKET_BYTES) {
    const objectSegment = buckets.readUInt32LE(start + KEY_BYTES);
    if (objectSegment === EMPTY || objectSegment === DELETED || objectSegment <= segment) continue;
    if (buckets.subarray(start, start + KEY_BYTES).every((byte) => byte === 0)) continue;
    count += 1;
  }
  return count;
}
