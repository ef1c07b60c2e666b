import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';

/**
 * OpenSSH public keys, parsed from the wire format (RFC 4253 §6.6, RFC 5656,
 * PROTOCOL.u2f) rather than matched by pattern. Written here because sshpk
 * does not know the security-key (sk-*) types; the format is small and every
 * field is checked, trailing bytes included.
 */

export type SshKeyType =
  | 'ssh-ed25519'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'ssh-rsa'
  | 'sk-ssh-ed25519@openssh.com'
  | 'sk-ecdsa-sha2-nistp256@openssh.com';

export interface SshPublicKey {
  type: SshKeyType;
  /** Canonical base64 of the key blob. */
  base64: string;
  /** `SHA256:…` as ssh-keygen -l prints it. */
  fingerprint: string;
  /** Key size in bits (RSA modulus, curve size, 256 for ed25519). */
  bits: number;
}

export const MIN_RSA_BITS = 3072;
const MAX_KEY_LINE_LENGTH = 16 * 1024;

const ECDSA_CURVES: Record<string, { curve: string; pointLength: number; bits: number }> = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', pointLength: 65, bits: 256 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', pointLength: 97, bits: 384 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', pointLength: 133, bits: 521 },
  'sk-ecdsa-sha2-nistp256@openssh.com': { curve: 'nistp256', pointLength: 65, bits: 256 },
};

function invalid(message: string): never {
  throw new AppError('INVALID_PUBLIC_KEY', message);
}

class BlobReader {
  private offset = 0;
  constructor(private readonly blob: Buffer) {}

  bytes(): Buffer {
    if (this.offset + 4 > this.blob.length) invalid('public key blob is truncated');
    const length = this.blob.readUInt32BE(this.offset);
    this.offset += 4;
    if (length > this.blob.length - this.offset) invalid('public key blob is truncated');
    const value = this.blob.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  text(): string {
    const value = this.bytes();
    if (!/^[\x21-\x7e]*$/.test(value.toString('latin1'))) invalid('public key blob has a non-printable string');
    return value.toString('latin1');
  }

  isAtEnd(): boolean {
    return this.offset === this.blob.length;
  }
}

/** Bits of an SSH mpint (big-endian two's complement, positive). */
function positiveMpintBits(value: Buffer): number {
  if (value.length === 0 || (value[0] ?? 0) & 0x80) invalid('RSA key has a non-positive number');
  let start = 0;
  while (start < value.length && value[start] === 0) start += 1;
  if (start > 1 || (start === 1 && ((value[1] ?? 0) & 0x80) === 0)) invalid('RSA key number is not minimally encoded');
  if (start === value.length) invalid('RSA key has a zero number');
  const leading = value[start] ?? 0;
  return (value.length - start - 1) * 8 + (32 - Math.clz32(leading));
}

function parseBlob(type: SshKeyType, reader: BlobReader): number {
  switch (type) {
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com': {
      if (reader.bytes().length !== 32) invalid('ed25519 key must be 32 bytes');
      if (type === 'sk-ssh-ed25519@openssh.com') readApplication(reader);
      return 256;
    }
    case 'ssh-rsa': {
      const exponentBits = positiveMpintBits(reader.bytes());
      if (exponentBits < 2 || exponentBits > 64) invalid('RSA public exponent is out of range');
      const modulusBits = positiveMpintBits(reader.bytes());
      if (modulusBits < MIN_RSA_BITS) invalid(`RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${modulusBits})`);
      if (modulusBits > 16384) invalid('RSA key is larger than 16384 bits');
      return modulusBits;
    }
    default: {
      const curve = ECDSA_CURVES[type];
      if (!curve) invalid(`unsupported key type ${type}`);
      if (reader.text() !== curve.curve) invalid('ECDSA key names another curve than its type');
      const point = reader.bytes();
      if (point.length !== curve.pointLength || point[0] !== 0x04) invalid('ECDSA key point is malformed');
      if (type.startsWith('sk-')) readApplication(reader);
      return curve.bits;
    }
  }
}

function readApplication(reader: BlobReader): void {
  const application = reader.text();
  if (!application.startsWith('ssh:') || application.length > 256) invalid('security key application must start with "ssh:"');
}

const ALLOWED_TYPES = new Set<string>([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Parses one OpenSSH public key line: `TYPE BASE64 [COMMENT]`. Options,
 * certificates, control characters and more than one key are refused; the
 * comment is dropped (the server writes the host name in its place).
 */
export function parseSshPublicKey(line: unknown): SshPublicKey {
  if (typeof line !== 'string') invalid('public key must be a string');
  if (line.length > MAX_KEY_LINE_LENGTH) invalid('public key is too long');
  const trimmed = line.replace(/\r?\n$/, '').trim();
  // Only printable ASCII: a newline or other control character could start a second key line.
  if (/[^\x20-\x7e]/.test(trimmed)) invalid('public key must be one line of printable ASCII');
  const fields = trimmed.split(/ +/);
  const [type, base64] = fields;
  if (!type || !base64) invalid('public key must look like "TYPE BASE64 [comment]"');
  if (type.includes('-cert-v01@openssh.com')) invalid('certificates are not accepted: send the plain public key');
  if (type === 'ssh-dss') invalid('DSA keys are not accepted');
  if (!ALLOWED_TYPES.has(type)) {
    invalid(`key type "${type.slice(0, 40)}" is not accepted (options before the key are not allowed either)`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) invalid('public key is not valid base64');
  const blob = Buffer.from(base64, 'base64');
  if (blob.toString('base64') !== base64) invalid('public key is not canonical base64');
  const reader = new BlobReader(blob);
  if (reader.text() !== type) invalid('key type inside the key differs from the one in front of it');
  const keyType = type as SshKeyType;
  const bits = parseBlob(keyType, reader);
  if (!reader.isAtEnd()) invalid('public key blob has trailing data');
  if (fields.slice(2).some((field) => ALLOWED_TYPES.has(field) || field.startsWith('AAAA'))) {
    invalid('send exactly one public key');
  }
  return { type: keyType, base64, fingerprint: fingerprintOf(blob), bits };
}
