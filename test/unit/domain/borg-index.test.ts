import { describe, expect, it } from 'vitest';
import { BUCKET_BYTES, findManifest, parseIndexHeader } from '../../../src/domain/borg-index.js';

function header(entries: number, buckets: number, keySize = 32, valueSize = 8): Buffer {
  const buffer = Buffer.alloc(18);
  buffer.write('BORG_IDX', 0, 'latin1');
  buffer.writeInt32LE(entries, 8);
  buffer.writeInt32LE(buckets, 12);
  buffer.writeInt8(keySize, 16);
  buffer.writeInt8(valueSize, 17);
  return buffer;
}

function bucket(keyByte: number | 'zero', segment: number, offset: number): Buffer {
  const buffer = Buffer.alloc(BUCKET_BYTES);
  if (keyByte !== 'zero') buffer.fill(keyByte, 0, 32);
  buffer.writeUInt32LE(segment, 32);
  buffer.writeUInt32LE(offset, 36);
  return buffer;
}

describe('parseIndexHeader', () => {
  it('reads the entries and buckets of a borg 1.x index', () => {
    expect(parseIndexHeader(header(5, 1031))).toEqual({ entries: 5, buckets: 1031 });
  });

  it.each([
    ['another magic', Buffer.concat([Buffer.from('BORG_HIX'), header(1, 1).subarray(8)])],
    ['a short file', header(1, 1).subarray(0, 12)],
    ['other key sizes', header(1, 1031, 16)],
    ['no buckets', header(0, 0)],
  ])('refuses %s', (_, buffer) => {
    expect(parseIndexHeader(buffer)).toBeNull();
  });
});

describe('findManifest', () => {
  it('finds the all-zero key and its segment and offset', () => {
    expect(findManifest(Buffer.concat([bucket(7, 1, 2), bucket('zero', 4, 8)]))).toEqual({ found: { segment: 4, offset: 8 } });
  });

  it('skips deleted buckets, as borg does', () => {
    expect(findManifest(Buffer.concat([bucket('zero', 0xfffffffe, 0), bucket('zero', 9, 40)]))).toEqual({
      found: { segment: 9, offset: 40 },
    });
  });

  it('stops at an empty bucket: there is no manifest', () => {
    expect(findManifest(Buffer.concat([bucket(1, 3, 0), bucket('zero', 0xffffffff, 0), bucket('zero', 5, 0)]))).toEqual({ found: null });
  });

  it('asks for more buckets when none of these ends the search', () => {
    expect(findManifest(bucket(1, 3, 0))).toEqual({ readMore: true });
  });
});
