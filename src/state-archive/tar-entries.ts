import { AppError } from '../errors.js';

/**
 * The POSIX ustar subset a server state archive is made of: regular files
 * only, held in memory, so that `tar -tvf` and `tar -xf` read a copy as they
 * read any archive, and so that reading one is a check of every byte rather
 * than an extraction. Written here (about a hundred lines) rather than with
 * the npm `tar` package: that one packs from and extracts to the file system,
 * while these entries come from an SQLite backup and a child's output, and a
 * hostile archive must be refused whole, before anything is written.
 */

export interface TarEntry {
  path: string;
  content: Buffer;
}

const BLOCK = 512;
/** More files than a server state holds: an archive with more is not one of ours. */
const MAX_ENTRIES = 64;
/** A relative path of plain segments: letters, digits, dot, dash and underscore; no `.` or `..`, no empty segment. */
const SAFE_PATH = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
const MAX_PATH_CHARACTERS = 100;

function invalid(message: string): AppError {
  return new AppError('STATE_ARCHIVE_INVALID', `not a valid server state archive: ${message}`);
}

export function isSafeArchivePath(path: string): boolean {
  return path.length <= MAX_PATH_CHARACTERS && SAFE_PATH.test(path);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function headerFor(entry: TarEntry, modifiedAtSeconds: number): Buffer {
  if (!isSafeArchivePath(entry.path)) throw new Error(`unsafe archive path: ${entry.path}`);
  const header = Buffer.alloc(BLOCK);
  header.write(entry.path, 0, MAX_PATH_CHARACTERS, 'ascii');
  writeOctal(header, 100, 8, 0o600);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, entry.content.length);
  writeOctal(header, 136, 12, modifiedAtSeconds);
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\x0000', 257, 8, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  // The checksum is computed with its own field read as eight spaces.
  header.fill(' ', 148, 156);
  writeOctal(header, 148, 7, headerChecksum(header));
  header.write(' ', 155, 1, 'ascii');
  return header;
}

function headerChecksum(header: Buffer): number {
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1) sum += index >= 148 && index < 156 ? 0x20 : (header[index] as number);
  return sum;
}

/** A whole archive: each entry's header and content padded to the block size, then two zero blocks. */
export function writeTar(entries: TarEntry[], modifiedAt: Date): Buffer {
  const seconds = Math.floor(modifiedAt.getTime() / 1000);
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(headerFor(entry, seconds), entry.content, Buffer.alloc(padding(entry.content.length)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function padding(length: number): number {
  return (BLOCK - (length % BLOCK)) % BLOCK;
}

function readString(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('latin1');
}

function readOctal(header: Buffer, offset: number, length: number, what: string): number {
  const text = readString(header, offset, length).trim();
  if (!/^[0-7]{1,11}$/.test(text)) throw invalid(`the ${what} field of a header is not an octal number`);
  return Number.parseInt(text, 8);
}

function isZeroBlock(block: Buffer): boolean {
  return block.every((byte) => byte === 0);
}

/**
 * Every entry of an archive, checked: a header checksum, ustar magic, regular
 * files only (no links, directories, devices or extended headers), safe
 * relative paths met once each, contents within the archive, and the end
 * marker present (a truncated copy is refused, not read as a shorter one).
 */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > archive.length) throw invalid('it ends before its end marker (truncated)');
    const header = archive.subarray(offset, offset + BLOCK);
    if (isZeroBlock(header)) {
      const next = archive.subarray(offset + BLOCK, offset + 2 * BLOCK);
      if (next.length < BLOCK || !isZeroBlock(next)) throw invalid('it ends before its end marker (truncated)');
      if (!isZeroBlock(archive.subarray(offset + 2 * BLOCK))) throw invalid('there is data after its end marker');
      return entries;
    }
    if (readOctal(header, 148, 8, 'checksum') !== headerChecksum(header)) throw invalid('a header checksum does not match');
    if (header.toString('latin1', 257, 263) !== 'ustar\0' || header.toString('latin1', 263, 265) !== '00') {
      throw invalid('a header is not POSIX ustar');
    }
    const type = header.toString('latin1', 156, 157);
    const prefix = readString(header, 345, 155);
    const path = prefix ? `${prefix}/${readString(header, 0, 100)}` : readString(header, 0, 100);
    if (type !== '0' && type !== '\0') throw invalid(`${JSON.stringify(path)} is not a regular file`);
    if (!isSafeArchivePath(path)) throw invalid(`${JSON.stringify(path)} is not a safe relative path`);
    if (seen.has(path)) throw invalid(`${path} appears twice`);
    if (entries.length >= MAX_ENTRIES) throw invalid(`it holds more than ${MAX_ENTRIES} files`);
    const size = readOctal(header, 124, 12, 'size');
    const start = offset + BLOCK;
    if (start + size > archive.length) throw invalid(`${path} ends beyond the archive (truncated)`);
    seen.add(path);
    entries.push({ path, content: Buffer.from(archive.subarray(start, start + size)) });
    offset = start + size + padding(size);
  }
}
