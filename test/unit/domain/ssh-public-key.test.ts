import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, parseSshPublicKey } from '../../../src/domain/ssh-public-key.js';
import type { AppError } from '../../../src/errors.js';
import { codeOf } from '../../support/error-codes.js';
import { useSshKeys } from '../../support/fixture-hooks.js';
import { canGenerateDsa, fingerprintBySshKeygen, type GeneratedSshKey } from '../../support/ssh-keys.js';

function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function blobOf(...fields: (Buffer | string)[]): Buffer {
  return Buffer.concat(fields.map(sshString));
}

/** The fields of a key blob, as length-prefixed strings. */
function fieldsOf(base64: string): Buffer[] {
  const blob = Buffer.from(base64, 'base64');
  const fields: Buffer[] = [];
  let offset = 0;
  while (offset < blob.length) {
    const length = blob.readUInt32BE(offset);
    fields.push(blob.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return fields;
}

const keys = useSshKeys({
  ed25519: 'ed25519',
  otherEd25519: 'ed25519',
  ecdsa256: 'ecdsa256',
  ecdsa384: 'ecdsa384',
  ecdsa521: 'ecdsa521',
  rsa2048: 'rsa2048',
  rsa3072: 'rsa3072',
});

describe('parseSshPublicKey accepts the allowed types', () => {
  it.each([
    ['ssh-ed25519', () => keys.ed25519],
    ['ecdsa-sha2-nistp256', () => keys.ecdsa256],
    ['ecdsa-sha2-nistp384', () => keys.ecdsa384],
    ['ecdsa-sha2-nistp521', () => keys.ecdsa521],
    ['ssh-rsa (3072 bits)', () => keys.rsa3072],
  ])('accepts %s with the fingerprint and size ssh-keygen -lf prints', (_label, key) => {
    const generated = key();
    const parsed = parseSshPublicKey(generated.publicKey);
    expect(parsed).toEqual({ type: generated.type, base64: generated.base64, fingerprint: generated.fingerprint, bits: generated.bits });
  });

  it('accepts sk-ssh-ed25519@openssh.com with the fingerprint ssh-keygen -lf prints', () => {
    const [, point = Buffer.alloc(0)] = fieldsOf(keys.ed25519.base64);
    const base64 = blobOf('sk-ssh-ed25519@openssh.com', point, 'ssh:').toString('base64');
    const path = join(keys.directory, 'sk-ed25519.pub');
    writeFileSync(path, `sk-ssh-ed25519@openssh.com ${base64} security-key\n`);
    const parsed = parseSshPublicKey(`sk-ssh-ed25519@openssh.com ${base64} security-key`);
    expect(parsed).toEqual({ type: 'sk-ssh-ed25519@openssh.com', base64, ...fingerprintBySshKeygen(path) });
  });

  it('accepts sk-ecdsa-sha2-nistp256@openssh.com with the fingerprint ssh-keygen -lf prints', () => {
    const [, curve = Buffer.alloc(0), point = Buffer.alloc(0)] = fieldsOf(keys.ecdsa256.base64);
    const base64 = blobOf('sk-ecdsa-sha2-nistp256@openssh.com', curve, point, 'ssh:').toString('base64');
    const path = join(keys.directory, 'sk-ecdsa.pub');
    writeFileSync(path, `sk-ecdsa-sha2-nistp256@openssh.com ${base64}\n`);
    const parsed = parseSshPublicKey(`sk-ecdsa-sha2-nistp256@openssh.com ${base64}`);
    expect(parsed).toEqual({ type: 'sk-ecdsa-sha2-nistp256@openssh.com', base64, ...fingerprintBySshKeygen(path) });
  });

  it('accepts a key without a comment', () => {
    expect(parseSshPublicKey(`${keys.ed25519.type} ${keys.ed25519.base64}`).fingerprint).toBe(keys.ed25519.fingerprint);
  });

  it('accepts the single trailing newline a .pub file ends with', () => {
    expect(parseSshPublicKey(`${keys.ed25519.publicKey}\n`).fingerprint).toBe(keys.ed25519.fingerprint);
  });

  it('drops the comment, whatever it says', () => {
    const parsed = parseSshPublicKey(`${keys.ed25519.type} ${keys.ed25519.base64} root@evil "quoted" ,from=*`);
    expect(parsed).toEqual({ type: 'ssh-ed25519', base64: keys.ed25519.base64, fingerprint: keys.ed25519.fingerprint, bits: 256 });
  });
});

describe('parseSshPublicKey refuses', () => {
  it.each([
    ['a command= option', (key: GeneratedSshKey) => `command="/bin/sh" ${key.publicKey}`],
    ['the restrict option', (key: GeneratedSshKey) => `restrict ${key.publicKey}`],
    ['a from= option', (key: GeneratedSshKey) => `from="*" ${key.publicKey}`],
    ['a list of options', (key: GeneratedSshKey) => `no-pty,permitopen="*:*" ${key.publicKey}`],
    ['an environment= option', (key: GeneratedSshKey) => `environment="LD_PRELOAD=/tmp/x.so" ${key.publicKey}`],
  ])('options before the key: %s', (_label, line) => {
    expect(codeOf(() => parseSshPublicKey(line(keys.ed25519)))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an embedded newline that starts a second key line', () => {
    const line = `${keys.ed25519.type} ${keys.ed25519.base64}\ncommand="/bin/sh" ${keys.otherEd25519.publicKey}`;
    expect(codeOf(() => parseSshPublicKey(line))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a newline inside the comment', () => {
    expect(codeOf(() => parseSshPublicKey(`${keys.ed25519.type} ${keys.ed25519.base64} a\nb`))).toBe('INVALID_PUBLIC_KEY');
  });

  it.each([
    ['carriage return', '\r'],
    ['tab', '\t'],
    ['NUL', '\u0000'],
    ['escape', '\u001b'],
    ['delete', '\u007f'],
    ['line separator', '\u2028'],
    ['a non-ASCII letter', 'é'],
  ])('a %s inside the line', (_label, character) => {
    expect(codeOf(() => parseSshPublicKey(`${keys.ed25519.type} ${keys.ed25519.base64} host${character}name`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('two keys on one line', () => {
    expect(codeOf(() => parseSshPublicKey(`${keys.ed25519.publicKey} ${keys.otherEd25519.publicKey}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('two keys on two lines', () => {
    expect(codeOf(() => parseSshPublicKey(`${keys.ed25519.publicKey}\n${keys.otherEd25519.publicKey}\n`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a second key blob in the comment field', () => {
    expect(codeOf(() => parseSshPublicKey(`${keys.ed25519.type} ${keys.ed25519.base64} ${keys.otherEd25519.base64}`))).toBe(
      'INVALID_PUBLIC_KEY',
    );
  });

  it('a certificate signed by ssh-keygen -s', () => {
    const certificate = keys.certify('ed25519', 'otherEd25519', 'web1');
    expect(certificate.startsWith('ssh-ed25519-cert-v01@openssh.com ')).toBe(true);
    expect(codeOf(() => parseSshPublicKey(certificate))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a plain key type whose blob is a certificate', () => {
    const certificate = keys.certify('ed25519', 'ecdsa256', 'web1');
    const [, base64] = certificate.split(' ');
    expect(codeOf(() => parseSshPublicKey(`ecdsa-sha2-nistp256 ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it.runIf(canGenerateDsa())('a DSA key made by ssh-keygen', () => {
    const dsa = keys.generate('dsa', 'dsa');
    expect(dsa.type).toBe('ssh-dss');
    expect(codeOf(() => parseSshPublicKey(dsa.publicKey))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a DSA key blob', () => {
    const base64 = blobOf('ssh-dss', Buffer.from([1]), Buffer.from([1]), Buffer.from([1]), Buffer.from([1])).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-dss ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an RSA key of 2048 bits', () => {
    expect(keys.rsa2048.bits).toBe(2048);
    expect(codeOf(() => parseSshPublicKey(keys.rsa2048.publicKey))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an RSA key of 3071 bits', () => {
    const [, exponent = Buffer.alloc(0), modulus = Buffer.alloc(0)] = fieldsOf(keys.rsa3072.base64);
    // Drop the modulus's top bit: 0x00 0x80.. 384 bytes becomes a 3071-bit number, minimally encoded.
    const shorter = Buffer.from(modulus.subarray(1));
    shorter[0] = (shorter[0] ?? 0) & 0x7f;
    const base64 = blobOf('ssh-rsa', exponent, shorter).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-rsa ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an RSA modulus with a needless leading zero', () => {
    const [, exponent = Buffer.alloc(0), modulus = Buffer.alloc(0)] = fieldsOf(keys.rsa3072.base64);
    const base64 = blobOf('ssh-rsa', exponent, Buffer.concat([Buffer.from([0]), modulus])).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-rsa ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a negative RSA exponent', () => {
    const [, , modulus = Buffer.alloc(0)] = fieldsOf(keys.rsa3072.base64);
    const base64 = blobOf('ssh-rsa', Buffer.from([0x81]), modulus).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-rsa ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an RSA exponent of one', () => {
    const [, , modulus = Buffer.alloc(0)] = fieldsOf(keys.rsa3072.base64);
    const base64 = blobOf('ssh-rsa', Buffer.from([1]), modulus).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-rsa ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it.each([
    ['a character outside the alphabet', (base64: string) => `${base64.slice(0, 10)}!${base64.slice(11)}`],
    ['a URL-safe character', (base64: string) => `${base64.slice(0, 10)}-${base64.slice(11)}`],
    ['a length that is not a multiple of four', (base64: string) => base64.slice(0, -1)],
    ['padding in the middle', (base64: string) => `${base64.slice(0, 8)}=${base64.slice(9)}`],
    ['three padding characters', (base64: string) => `${base64.slice(0, -1)}===`],
  ])('bad base64: %s', (_label, mangle) => {
    expect(codeOf(() => parseSshPublicKey(`ssh-ed25519 ${mangle(keys.ed25519.base64)}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('non-canonical base64 (padding bits set)', () => {
    const { base64 } = keys.ecdsa256;
    expect(base64.endsWith('=')).toBe(true);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const padding = base64.length - base64.replace(/=+$/, '').length;
    const last = base64.length - padding - 1;
    const changed = alphabet[alphabet.indexOf(base64[last] ?? 'A') + 1] ?? 'A';
    const nonCanonical = `${base64.slice(0, last)}${changed}${base64.slice(last + 1)}`;
    expect(Buffer.from(nonCanonical, 'base64').equals(Buffer.from(base64, 'base64'))).toBe(true);
    expect(codeOf(() => parseSshPublicKey(`ecdsa-sha2-nistp256 ${nonCanonical}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('trailing data in the blob', () => {
    const blob = Buffer.concat([Buffer.from(keys.ed25519.base64, 'base64'), sshString('command="/bin/sh"')]);
    expect(codeOf(() => parseSshPublicKey(`ssh-ed25519 ${blob.toString('base64')}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('one trailing byte in the blob', () => {
    const blob = Buffer.concat([Buffer.from(keys.ed25519.base64, 'base64'), Buffer.from([0])]);
    expect(codeOf(() => parseSshPublicKey(`ssh-ed25519 ${blob.toString('base64')}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a truncated blob', () => {
    const blob = Buffer.from(keys.ed25519.base64, 'base64').subarray(0, 40);
    expect(codeOf(() => parseSshPublicKey(`ssh-ed25519 ${blob.toString('base64')}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('another type inside the blob than in front of it', () => {
    expect(codeOf(() => parseSshPublicKey(`ssh-rsa ${keys.ed25519.base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an ECDSA key naming another curve than its type', () => {
    const [, , point = Buffer.alloc(0)] = fieldsOf(keys.ecdsa256.base64);
    const base64 = blobOf('ecdsa-sha2-nistp256', 'nistp384', point).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ecdsa-sha2-nistp256 ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an ECDSA point of the wrong length', () => {
    const [, curve = Buffer.alloc(0), point = Buffer.alloc(0)] = fieldsOf(keys.ecdsa256.base64);
    const base64 = blobOf('ecdsa-sha2-nistp256', curve, point.subarray(0, 64)).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ecdsa-sha2-nistp256 ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an ed25519 key of 31 bytes', () => {
    const base64 = blobOf('ssh-ed25519', Buffer.alloc(31, 7)).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-ed25519 ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a security key whose application does not start with ssh:', () => {
    const [, point = Buffer.alloc(0)] = fieldsOf(keys.ed25519.base64);
    const base64 = blobOf('sk-ssh-ed25519@openssh.com', point, 'https://evil').toString('base64');
    expect(codeOf(() => parseSshPublicKey(`sk-ssh-ed25519@openssh.com ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('an unknown key type', () => {
    const base64 = blobOf('ssh-foo', Buffer.alloc(32)).toString('base64');
    expect(codeOf(() => parseSshPublicKey(`ssh-foo ${base64}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a type without a key', () => {
    expect(codeOf(() => parseSshPublicKey('ssh-ed25519'))).toBe('INVALID_PUBLIC_KEY');
  });

  it('the empty string', () => {
    expect(codeOf(() => parseSshPublicKey(''))).toBe('INVALID_PUBLIC_KEY');
  });

  it('a line longer than 16 KiB', () => {
    expect(codeOf(() => parseSshPublicKey(`${keys.ed25519.publicKey} ${'x'.repeat(16 * 1024)}`))).toBe('INVALID_PUBLIC_KEY');
  });

  it.each([undefined, null, 42, {}, [`ssh-ed25519 AAAA`]])('the non-string %j', (value) => {
    expect(codeOf(() => parseSshPublicKey(value))).toBe('INVALID_PUBLIC_KEY');
  });
});

describe('fingerprintOf', () => {
  it('is the SHA256 fingerprint ssh-keygen prints', () => {
    expect(fingerprintOf(Buffer.from(keys.ed25519.base64, 'base64'))).toBe(keys.ed25519.fingerprint);
  });
});

describe('parseSshPublicKey on arbitrary input', () => {
  it('only ever returns one allowed type, canonical base64 and a SHA256 fingerprint of that base64', () => {
    const validLine = fc.constantFrom(keys.ed25519.publicKey, keys.ecdsa256.publicKey, keys.rsa3072.publicKey);
    const input = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.tuple(fc.string(), validLine, fc.string()).map(([before, line, after]) => `${before}${line}${after}`),
      fc.tuple(validLine, fc.string({ unit: 'binary' })).map(([line, after]) => `${line} ${after}`),
    );
    fc.assert(
      fc.property(input, (line) => {
        let parsed: ReturnType<typeof parseSshPublicKey>;
        try {
          parsed = parseSshPublicKey(line);
        } catch (error) {
          expect((error as AppError).code).toBe('INVALID_PUBLIC_KEY');
          return;
        }
        expect(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa']).toContain(parsed.type);
        expect(parsed.base64).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
        expect(Buffer.from(parsed.base64, 'base64').toString('base64')).toBe(parsed.base64);
        expect(parsed.fingerprint).toBe(fingerprintOf(Buffer.from(parsed.base64, 'base64')));
        // Surrounding white space is dropped; nothing that breaks a line is accepted inside the key.
        expect(line.trim()).toMatch(/^[ -~]*$/);
      }),
      { numRuns: 2000 },
    );
  });
});
