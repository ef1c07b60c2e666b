/**
 * The algorithms sshd offers: only those an external audit (Debian's
 * ssh-audit) passes without a failure or warning. No NIST-curve key exchange
 * or host key, no SHA-1, no 64-bit MAC tags, no encrypt-and-MAC modes, no
 * CBC; AEAD ciphers only. Pure: the caller finds out what the installed
 * OpenSSH supports and what the CPU can do.
 */

/**
 * Key exchange, post-quantum hybrids first. Both hybrid names exist from
 * OpenSSH 9.9 on (Debian 12's 9.2 has the second as a backport): sshd refuses
 * to start on a name it does not know, so each is offered only when the
 * installed OpenSSH lists it. The older name of the second,
 * sntrup761x25519-sha512@openssh.com, is left out: ssh-audit 2.5.0 warns of
 * it as experimental, so clients of OpenSSH 8.5 to 9.8 without the backport
 * fall back to curve25519 (borg encrypts the backups themselves either way).
 */
const PREFERRED_KEX = [
  'mlkem768x25519-sha256',
  'sntrup761x25519-sha512',
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
] as const;

/** What every OpenSSH this server runs with (8.5 and later) knows, when the installed one cannot be asked. */
const BASELINE_KEX = new Set<string>(PREFERRED_KEX.slice(2));

/** The key exchange algorithms to offer, of those the installed OpenSSH knows (`ssh -Q kex`; null: unknown). */
export function kexAlgorithmsFor(supported: ReadonlySet<string> | null): string[] {
  const known = supported ?? BASELINE_KEX;
  return PREFERRED_KEX.filter((name) => known.has(name));
}

/** `ssh -Q kex` prints one name per line. */
export function parseAlgorithmList(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean),
  );
}

/**
 * AEAD ciphers only, the fastest first: AES-GCM where the CPU has AES
 * instructions, ChaCha20-Poly1305 (fast in software, constant time) where it
 * has not. The client's order decides the cipher (RFC 4253 §7.1); ours
 * decides for clients that prefer what the server prefers.
 */
export function ciphersFor(hasAesInstructions: boolean): string[] {
  const gcm = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'];
  const chacha = ['chacha20-poly1305@openssh.com'];
  return hasAesInstructions ? [...gcm, ...chacha] : [...chacha, ...gcm];
}

/** Whether /proc/cpuinfo lists AES instructions (`aes` in x86's flags, arm64's Features). */
export function hasAesInstructions(cpuinfo: string): boolean {
  return /^(?:flags|Features)\s*:.*\baes\b/m.test(cpuinfo);
}

/** Encrypt-then-MAC with SHA-2 or a 128-bit UMAC tag; the AEAD ciphers above use none of them. */
export const MACS = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'umac-128-etm@openssh.com'] as const;

/** The host key types the server has (src/identity/ssh-host-keys.ts): ed25519, and RSA with SHA-2 signatures only. */
export const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256'] as const;
