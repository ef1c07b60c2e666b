import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real keys from the real ssh-keygen, made into a temporary directory once per
 * test file; fingerprints come from `ssh-keygen -lf`, not from our own code.
 */
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

export const KEY_TYPE_ARGUMENTS = {
  ed25519: ['-t', 'ed25519'],
  ecdsa256: ['-t', 'ecdsa', '-b', '256'],
  ecdsa384: ['-t', 'ecdsa', '-b', '384'],
  ecdsa521: ['-t', 'ecdsa', '-b', '521'],
  rsa2048: ['-t', 'rsa', '-b', '2048'],
  rsa3072: ['-t', 'rsa', '-b', '3072'],
  dsa: ['-t', 'dsa'],
} as const;

export type TestKeyKind = keyof typeof KEY_TYPE_ARGUMENTS;

export interface GeneratedSshKey {
  /** The .pub line without its trailing newline: `TYPE BASE64 COMMENT`. */
  publicKey: string;
  type: string;
  base64: string;
  privateKey: string;
  /** As `ssh-keygen -lf` prints it. */
  fingerprint: string;
  bits: number;
  path: string;
}

export interface KeyDirectory {
  directory: string;
  generate(name: string, kind: TestKeyKind): GeneratedSshKey;
  /** Signs `keyName`'s public key with `caName`'s private key; returns the certificate line. */
  certify(caName: string, keyName: string, principal: string): string;
  remove(): void;
}

export function fingerprintBySshKeygen(publicKeyPath: string): { bits: number; fingerprint: string } {
  const output = execFileSync(SSH_KEYGEN, ['-l', '-E', 'sha256', '-f', publicKeyPath], { encoding: 'utf8' });
  const [bits = '', fingerprint = ''] = output.trim().split(/\s+/);
  return { bits: Number(bits), fingerprint };
}

export function createKeyDirectory(): KeyDirectory {
  const directory = mkdtempSync(join(tmpdir(), 'sbs-keys-'));
  return {
    directory,
    generate(name, kind) {
      const path = join(directory, name);
      execFileSync(SSH_KEYGEN, ['-q', ...KEY_TYPE_ARGUMENTS[kind], '-N', '', '-C', `test-${name}`, '-f', path], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const publicKey = readFileSync(`${path}.pub`, 'utf8').trimEnd();
      const [type = '', base64 = ''] = publicKey.split(' ');
      return { publicKey, type, base64, privateKey: readFileSync(path, 'utf8'), ...fingerprintBySshKeygen(`${path}.pub`), path };
    },
    certify(caName, keyName, principal) {
      execFileSync(
        SSH_KEYGEN,
        ['-q', '-s', join(directory, caName), '-I', `cert-${keyName}`, '-n', principal, join(directory, `${keyName}.pub`)],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      return readFileSync(join(directory, `${keyName}-cert.pub`), 'utf8').trimEnd();
    },
    remove() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Whether this ssh-keygen still makes DSA keys (OpenSSH 9.8 dropped them from default builds). */
export function canGenerateDsa(): boolean {
  const keys = createKeyDirectory();
  try {
    keys.generate('probe', 'dsa');
    return true;
  } catch {
    return false;
  } finally {
    keys.remove();
  }
}
