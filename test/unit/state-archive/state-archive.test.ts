import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MANIFEST_PATH,
  packStateArchive,
  STATE_ARCHIVE_FORMAT,
  type StateArchiveKind,
  unpackStateArchive,
} from '../../../src/state-archive/state-archive.js';
import { readTar, writeTar } from '../../../src/state-archive/tar-entries.js';
import { codeOf } from '../../support/error-codes.js';

const AT = new Date('2026-12-05T20:00:00.000Z');
const FILES = [
  { path: 'root/root.db', content: Buffer.from('SQLite format 3\0 and some pages') },
  { path: 'ssh/ssh_host_ed25519_key', content: Buffer.alloc(1500, 7) },
  { path: 'api/state.tar', content: Buffer.alloc(0) },
];
const ALLOWED = new Set(FILES.map((file) => file.path));

function pack(kind: StateArchiveKind = 'server', files = FILES): Buffer {
  return packStateArchive({ kind, serverVersion: '0.1.0', createdAt: AT, files });
}

function unpack(archive: Buffer, kind: StateArchiveKind = 'server') {
  return unpackStateArchive(archive, { kind, isAllowedPath: (path) => ALLOWED.has(path) });
}

/** An archive written entry by entry, with a manifest of our choosing: what a hostile or foreign copy may hold. */
function archiveWith(manifest: unknown, entries: { path: string; content: Buffer }[] = []): Buffer {
  return writeTar([{ path: MANIFEST_PATH, content: Buffer.from(JSON.stringify(manifest)) }, ...entries], AT);
}

function manifestFor(files: { path: string; content: Buffer }[], fields: Record<string, unknown> = {}) {
  const unpacked = unpack(pack('server', FILES));
  return {
    ...unpacked.manifest,
    files: files.map((file) => ({
      path: file.path,
      bytes: file.content.length,
      sha256: unpacked.manifest.files.find((listed) => listed.path === file.path)?.sha256,
    })),
    ...fields,
  };
}

/** A ustar header block with a given name and type flag, and a correct checksum. */
function rawHeader(name: string, type: string, size = 0): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'latin1');
  header.write('0000600\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write(type, 156, 1, 'latin1');
  header.write('ustar\x0000', 257, 8, 'latin1');
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return header;
}

function withEnd(...blocks: Buffer[]): Buffer {
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

describe('server state archives', () => {
  const temporaryDirs: string[] = [];
  afterEach(() => {
    for (const dir of temporaryDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('reads back every file it wrote, with a manifest naming the format, versions and time', () => {
    const { manifest, files } = unpack(pack());
    expect(manifest).toMatchObject({ format: STATE_ARCHIVE_FORMAT, formatVersion: 1, kind: 'server', serverVersion: '0.1.0' });
    expect(manifest.createdAt).toBe(AT.toISOString());
    expect(manifest.files.map((file) => file.path)).toEqual(FILES.map((file) => file.path));
    for (const file of FILES) expect(files.get(file.path)).toEqual(file.content);
  });

  it('is a tar archive that tar lists and extracts, manifest first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'state-archive-'));
    temporaryDirs.push(dir);
    writeFileSync(join(dir, 'copy.tar'), pack());
    const listed = (await execa('tar', ['-tf', join(dir, 'copy.tar')])).stdout.trim().split('\n');
    expect(listed).toEqual([MANIFEST_PATH, ...FILES.map((file) => file.path)]);
    await execa('tar', ['-xf', join(dir, 'copy.tar'), '-C', dir]);
    expect(readFileSync(join(dir, 'ssh/ssh_host_ed25519_key'))).toEqual(FILES[1]?.content);
  });

  it('reads an archive that GNU tar padded to its record size', () => {
    expect(unpack(Buffer.concat([pack(), Buffer.alloc(10_240)])).files.size).toBe(FILES.length);
  });

  it('refuses a copy with one byte of a file changed', () => {
    const archive = pack();
    // Inside the second file's content (after the manifest's header and content, and the first file's header).
    const offset = archive.indexOf(Buffer.alloc(1500, 7));
    archive[offset + 700] = 8;
    expect(() => unpack(archive)).toThrow(/ssh\/ssh_host_ed25519_key does not match its checksum/);
    expect(codeOf(() => unpack(archive))).toBe('STATE_ARCHIVE_INVALID');
  });

  it('refuses a header whose checksum does not match', () => {
    const archive = pack();
    archive[0] = 'n'.charCodeAt(0);
    expect(() => unpack(archive)).toThrow(/a header checksum does not match/);
  });

  it('refuses a truncated copy, cut anywhere', () => {
    const archive = pack();
    for (const length of [0, 100, 512, 1024, 3000, archive.length - 1024, archive.length - 1]) {
      expect(() => unpack(archive.subarray(0, length)), `cut at ${length}`).toThrow(/truncated/);
    }
  });

  it('refuses data after the end marker', () => {
    expect(() => unpack(Buffer.concat([pack(), Buffer.from('more')]))).toThrow(/data after its end marker/);
  });

  it('refuses a copy of another format version, naming both', () => {
    const archive = archiveWith(manifestFor(FILES, { formatVersion: 2 }), FILES);
    expect(() => unpack(archive)).toThrow(/format version 2; this server reads version 1/);
    expect(codeOf(() => unpack(archive))).toBe('STATE_ARCHIVE_INVALID');
  });

  it('refuses an archive of another format, or without a manifest first', () => {
    expect(() => unpack(archiveWith(manifestFor(FILES, { format: 'something-else' }), FILES))).toThrow(/does not name the format/);
    expect(() => unpack(writeTar(FILES, AT))).toThrow(/its first entry is not manifest\.json/);
    expect(() => unpack(writeTar([{ path: MANIFEST_PATH, content: Buffer.from('{not json') }], AT))).toThrow(/is not JSON/);
  });

  it("refuses the API's part where a server copy is expected, and the other way round", () => {
    expect(() => unpack(pack('api'), 'server')).toThrow(/kind "api", not "server"/);
    expect(() => unpack(pack('server'), 'api')).toThrow(/kind "server", not "api"/);
  });

  it('refuses a file the manifest does not list, and a listed file that is missing', () => {
    const others = FILES.slice(1);
    expect(() => unpack(archiveWith(manifestFor(others), FILES))).toThrow(/root\/root\.db is not in its manifest/);
    expect(() => unpack(archiveWith(manifestFor(FILES), others))).toThrow(/lists files it does not hold: root\/root\.db/);
  });

  it('refuses a file a server state does not hold, even when the manifest lists it', () => {
    const archive = pack('server', [...FILES, { path: 'ssh/authorized_keys', content: Buffer.from('x') }]);
    expect(() => unpack(archive)).toThrow(/ssh\/authorized_keys is not a file a server state holds/);
  });

  it('refuses hostile paths: parent segments, absolute names, empty segments', () => {
    for (const name of ['../root.db', 'root/../../etc/passwd', '/etc/passwd', 'root//root.db', './root.db', 'root/.', 'a\\b']) {
      const archive = withEnd(rawHeader(name, '0'));
      expect(() => readTar(archive), name).toThrow(/is not a safe relative path/);
    }
    // A manifest listing such a path is refused by its schema as well.
    const manifest = { ...manifestFor([]), files: [{ path: '../x', bytes: 0, sha256: 'a'.repeat(64) }] };
    expect(() => unpack(archiveWith(manifest))).toThrow(/not a safe relative path/);
  });

  it('refuses links, directories, devices and extended headers', () => {
    for (const type of ['1', '2', '3', '4', '5', '6', 'x', 'g', 'L']) {
      expect(() => readTar(withEnd(rawHeader('root/root.db', type))), `type ${type}`).toThrow(/is not a regular file/);
    }
  });

  it('refuses a name met twice', () => {
    const block = rawHeader('root/root.db', '0');
    expect(() => readTar(withEnd(block, block))).toThrow(/appears twice/);
  });

  it('refuses a size that reaches beyond the archive', () => {
    expect(() => readTar(withEnd(rawHeader('root/root.db', '0', 10_000_000)))).toThrow(/ends beyond the archive/);
  });
});
