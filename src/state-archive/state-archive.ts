import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { isSafeArchivePath, readTar, type TarEntry, writeTar } from './tar-entries.js';

/**
 * A copy of the server's state: a ustar archive whose first entry,
 * `manifest.json`, says what it is (format and its version, the server
 * version that wrote it, when) and lists every other entry with its size and
 * SHA-256. Two kinds share the format: `server`, the whole copy `borgctl
 * state backup` writes (root's part, and the API's part as one opaque entry),
 * and `api`, the API's part, made and read by a process of the API user.
 */

export const STATE_ARCHIVE_FORMAT = 'secure-borg-server-state';
/** The version this server writes and reads; a copy of another version is refused with both named. */
export const STATE_ARCHIVE_FORMAT_VERSION = 1;
export const MANIFEST_PATH = 'manifest.json';

export type StateArchiveKind = 'server' | 'api';

const MAX_MANIFEST_BYTES = 65_536;
const MAX_LISTED_FILES = 63;

const manifestSchema = z.strictObject({
  format: z.literal(STATE_ARCHIVE_FORMAT),
  formatVersion: z.number().int().positive(),
  kind: z.enum(['server', 'api']),
  serverVersion: z.string().min(1).max(64),
  createdAt: z.iso.datetime(),
  files: z
    .array(
      z.strictObject({
        path: z.string().max(100).refine(isSafeArchivePath, 'not a safe relative path'),
        bytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .max(MAX_LISTED_FILES),
});

export type StateManifest = z.infer<typeof manifestSchema>;

export interface StateArchive {
  manifest: StateManifest;
  /** Each listed file's content, by its path in the archive. */
  files: Map<string, Buffer>;
}

function invalid(message: string): AppError {
  return new AppError('STATE_ARCHIVE_INVALID', `not a valid server state archive: ${message}`);
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export function packStateArchive(options: { kind: StateArchiveKind; serverVersion: string; createdAt: Date; files: TarEntry[] }): Buffer {
  const manifest: StateManifest = {
    format: STATE_ARCHIVE_FORMAT,
    formatVersion: STATE_ARCHIVE_FORMAT_VERSION,
    kind: options.kind,
    serverVersion: options.serverVersion,
    createdAt: options.createdAt.toISOString(),
    files: options.files.map((file) => ({ path: file.path, bytes: file.content.length, sha256: sha256(file.content) })),
  };
  const manifestEntry = { path: MANIFEST_PATH, content: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) };
  return writeTar([manifestEntry, ...options.files], options.createdAt);
}

/**
 * Reads and checks a whole archive before anyone acts on it: the tar
 * structure, then the manifest (format, version, kind), then that the
 * entries are exactly the files it lists, each the size and SHA-256 it
 * says, and each a path this kind of archive may hold.
 */
export function unpackStateArchive(
  archive: Buffer,
  expected: { kind: StateArchiveKind; isAllowedPath: (path: string) => boolean },
): StateArchive {
  const [first, ...rest] = readTar(archive);
  if (!first || first.path !== MANIFEST_PATH) throw invalid(`its first entry is not ${MANIFEST_PATH}`);
  if (first.content.length > MAX_MANIFEST_BYTES) throw invalid(`${MANIFEST_PATH} is too large`);
  const manifest = parseManifest(first.content);
  if (manifest.kind !== expected.kind) throw invalid(`it is a copy of kind "${manifest.kind}", not "${expected.kind}"`);
  const listed = new Map(manifest.files.map((file) => [file.path, file]));
  if (listed.size !== manifest.files.length) throw invalid('its manifest lists a file twice');
  const files = new Map<string, Buffer>();
  for (const entry of rest) {
    const file = listed.get(entry.path);
    if (!file) throw invalid(`${entry.path} is not in its manifest`);
    if (!expected.isAllowedPath(entry.path)) throw invalid(`${entry.path} is not a file a server state holds`);
    if (entry.content.length !== file.bytes || sha256(entry.content) !== file.sha256) {
      throw invalid(`${entry.path} does not match its checksum in the manifest`);
    }
    files.set(entry.path, entry.content);
  }
  const missing = manifest.files.filter((file) => !files.has(file.path)).map((file) => file.path);
  if (missing.length > 0) throw invalid(`its manifest lists files it does not hold: ${missing.join(', ')}`);
  return { manifest, files };
}

function parseManifest(content: Buffer): StateManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content.toString('utf8'));
  } catch {
    throw invalid(`${MANIFEST_PATH} is not JSON`);
  }
  const header = z.looseObject({ format: z.unknown(), formatVersion: z.unknown() }).safeParse(parsed);
  if (!header.success || header.data.format !== STATE_ARCHIVE_FORMAT) throw invalid(`${MANIFEST_PATH} does not name the format`);
  if (header.data.formatVersion !== STATE_ARCHIVE_FORMAT_VERSION) {
    throw new AppError(
      'STATE_ARCHIVE_INVALID',
      `the copy has format version ${JSON.stringify(header.data.formatVersion)}; this server reads version ${STATE_ARCHIVE_FORMAT_VERSION}`,
    );
  }
  const manifest = manifestSchema.safeParse(parsed);
  if (!manifest.success) {
    throw invalid(`${MANIFEST_PATH}: ${manifest.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return manifest.data;
}
