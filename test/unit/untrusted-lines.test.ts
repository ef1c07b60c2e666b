import { linkSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, readLinesOfRegularFileIfExists } from '../../src/untrusted-files.js';
import { codeOf } from '../support/error-codes.js';

/** Reading a file someone else wrote a line at a time: the lines come out whole, however the chunks fall. */

let base: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sbs-untrusted-lines-'));
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const linesOf = (path: string, options = {}) => readLinesOfRegularFileIfExists(path, options, (lines) => [...lines]);

describe('readLinesOfRegularFileIfExists', () => {
  it('gives every line of a file many chunks long, a last line without a newline too', () => {
    const lines = Array.from({ length: 20_000 }, (_, index) => `transaction ${index}, UTC time 2026-11-20T10:00:00.${index}`);
    const path = join(base, 'log');
    writeFileSync(path, `${lines.join('\n')}\nlast ü line`);
    expect(linesOf(path)).toEqual([...lines, 'last ü line']);
  });

  it('keeps a multi-byte character whole across a chunk boundary', () => {
    const path = join(base, 'log');
    const filler = Array.from({ length: 655 }, () => 'b'.repeat(99)); // 65,500 bytes with their newlines
    const line = `${'a'.repeat(35)}ü`; // its ü is bytes 65,535 and 65,536: the first chunk ends inside it
    writeFileSync(path, `${filler.join('\n')}\n${line}\nend\n`);
    expect(linesOf(path)).toEqual([...filler, line, 'end']);
  });

  it('skips a line longer than the limit, and reads on after it', () => {
    const path = join(base, 'log');
    writeFileSync(path, `first\n${'x'.repeat(MAX_LINE_BYTES + 1)}\n${'y'.repeat(MAX_LINE_BYTES)}\n${'z'.repeat(200_000)}`);
    expect(linesOf(path)).toEqual(['first', 'y'.repeat(MAX_LINE_BYTES)]);
  });

  it('answers null without a file, and refuses a symbolic link, a hard link and another owner', () => {
    const path = join(base, 'log');
    expect(linesOf(path)).toBeNull();
    writeFileSync(join(base, 'target'), 'secret\n');
    symlinkSync(join(base, 'target'), path);
    expect(codeOf(() => linesOf(path))).toBe('UNSAFE_PATH');
    rmSync(path);
    linkSync(join(base, 'target'), path);
    expect(codeOf(() => linesOf(path))).toBe('UNSAFE_PATH');
    rmSync(path);
    writeFileSync(path, 'mine\n');
    expect(codeOf(() => linesOf(path, { ownedBy: (process.getuid?.() ?? 0) + 1 }))).toBe('UNSAFE_PATH');
  });
});
