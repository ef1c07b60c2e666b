import { describe, expect, it } from 'vitest';
import { ciphersFor, hasAesInstructions, kexAlgorithmsFor, parseAlgorithmList } from '../../../../src/root/sshd/ssh-algorithms.js';

/** `ssh -Q kex` of Debian 12's OpenSSH 9.2p1 (with its sntrup761x25519-sha512 backport). */
const OPENSSH_9_2_KEX = `diffie-hellman-group1-sha1
diffie-hellman-group14-sha1
diffie-hellman-group14-sha256
diffie-hellman-group16-sha512
diffie-hellman-group18-sha512
diffie-hellman-group-exchange-sha1
diffie-hellman-group-exchange-sha256
ecdh-sha2-nistp256
ecdh-sha2-nistp384
ecdh-sha2-nistp521
curve25519-sha256
curve25519-sha256@libssh.org
sntrup761x25519-sha512
sntrup761x25519-sha512@openssh.com
`;

describe('kexAlgorithmsFor', () => {
  it('offers the post-quantum hybrids first, and no NIST curve, SHA-1, 2048-bit group or name ssh-audit warns of', () => {
    expect(kexAlgorithmsFor(parseAlgorithmList(OPENSSH_9_2_KEX))).toEqual([
      'sntrup761x25519-sha512',
      'curve25519-sha256',
      'curve25519-sha256@libssh.org',
      'diffie-hellman-group16-sha512',
      'diffie-hellman-group18-sha512',
    ]);
  });

  it('offers ML-KEM first when the installed OpenSSH knows it (10.0)', () => {
    const openssh10 = parseAlgorithmList(`${OPENSSH_9_2_KEX}mlkem768x25519-sha256\n`);
    expect(kexAlgorithmsFor(openssh10)[0]).toBe('mlkem768x25519-sha256');
  });

  it('names no algorithm the installed OpenSSH does not know (sshd would refuse to start)', () => {
    const openssh85 = parseAlgorithmList('curve25519-sha256\ncurve25519-sha256@libssh.org\nsntrup761x25519-sha512@openssh.com\n');
    expect(kexAlgorithmsFor(openssh85)).toEqual(['curve25519-sha256', 'curve25519-sha256@libssh.org']);
  });

  it('falls back to what every supported OpenSSH knows when it cannot ask', () => {
    expect(kexAlgorithmsFor(null)).toEqual([
      'curve25519-sha256',
      'curve25519-sha256@libssh.org',
      'diffie-hellman-group16-sha512',
      'diffie-hellman-group18-sha512',
    ]);
  });
});

describe('ciphersFor', () => {
  it('puts AES-GCM first on a CPU with AES instructions', () => {
    expect(ciphersFor(true)).toEqual(['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com']);
  });

  it('puts ChaCha20-Poly1305 first on a CPU without them', () => {
    expect(ciphersFor(false)).toEqual(['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com']);
  });
});

describe('hasAesInstructions', () => {
  it('finds aes in the flags of an x86 CPU', () => {
    expect(hasAesInstructions('processor\t: 0\nflags\t\t: fpu vme sse2 ssse3 pclmulqdq aes avx\n')).toBe(true);
  });

  it('finds aes in the features of an arm64 CPU', () => {
    expect(hasAesInstructions('processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n')).toBe(true);
  });

  it('does not take a longer flag containing aes (vaes) for aes', () => {
    expect(hasAesInstructions('flags\t\t: fpu sse2 vaes\n')).toBe(false);
  });

  it('is false for a CPU without them, or no cpuinfo', () => {
    expect(hasAesInstructions('processor\t: 0\nflags\t\t: fpu vme sse2\n')).toBe(false);
    expect(hasAesInstructions('')).toBe(false);
  });
});
