import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyLineHost, renderAuthorizedKeysLine } from '../../../src/domain/authorized-keys.js';
import { parseHostName } from '../../../src/domain/host-name.js';
import { parseSshPublicKey } from '../../../src/domain/ssh-public-key.js';
import { useSshKeys } from '../../support/fixture-hooks.js';
import type { GeneratedSshKey } from '../../support/ssh-keys.js';

/**
 * Properties of the key line beyond the ones in authorized-keys.test.ts: for
 * any backup directory the repository stays the host's own, and the real
 * OpenSSH parser reads every rendered line as exactly one key, the one that
 * was enrolled, whatever comment the VM sent with it.
 */

const keys = useSshKeys({ ed25519: 'ed25519', ecdsa: 'ecdsa384', rsa: 'rsa3072' });
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sbs-key-lines-'));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hostName = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/).filter((name) => {
  try {
    return parseHostName(name) === name;
  } catch {
    return false;
  }
});

function hostFor(key: GeneratedSshKey, name: string, changes: Partial<KeyLineHost> = {}): KeyLineHost {
  const parsed = parseSshPublicKey(key.publicKey);
  return { name, keyType: parsed.type, keyBase64: parsed.base64, appendOnly: true, quotaBytes: null, allowFrom: null, ...changes };
}

describe('key lines for any backup directory', () => {
  it('restrict borg to BACKUP_DIR/NAME/repo, never a path that climbs out', () => {
    const backupDir = fc.oneof(
      fc.string(),
      fc.stringMatching(/^\/[a-z./_-]{0,24}$/),
      fc.constantFrom('/backups/../etc', '/backups/', '//backups', '/./backups', '/back ups', '/backups"', '/backups\n', 'backups', '/'),
    );
    fc.assert(
      fc.property(backupDir, hostName, (directory, name) => {
        let line: string;
        try {
          line = renderAuthorizedKeysLine(hostFor(keys.ed25519, name), directory);
        } catch {
          return;
        }
        const match = /--restrict-to-repository (\S+) /.exec(line);
        const repository = match?.[1] ?? '';
        expect(repository.split('/')).not.toContain('..');
        expect(posix.normalize(repository)).toBe(posix.join(posix.normalize(directory), name, 'repo'));
        expect(line.indexOf('\n')).toBe(line.length - 1);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('key lines as OpenSSH reads them', () => {
  it('hold exactly one key, the enrolled one, whatever comment came with it', () => {
    const comment = fc.oneof(fc.string(), fc.constantFrom('x" command="/bin/sh', 'a,b from="*"', 'web1 ssh-ed25519 AAAA'));
    const quota = fc.option(fc.integer({ min: 10_000_000, max: 2 ** 50 }), { nil: null });
    const allowFrom = fc.option(fc.constantFrom('192.0.2.0/24', '10.0.0.1,10.0.0.2', '2001:db8::/32'), { nil: null });
    let run = 0;
    fc.assert(
      fc.property(fc.nat(2), hostName, comment, quota, allowFrom, fc.boolean(), (index, name, text, quotaBytes, from, appendOnly) => {
        const key = [keys.ed25519, keys.ecdsa, keys.rsa][index] as GeneratedSshKey;
        let parsed: ReturnType<typeof parseSshPublicKey>;
        try {
          parsed = parseSshPublicKey(`${key.type} ${key.base64} ${text}`);
        } catch {
          return;
        }
        const host = { name, keyType: parsed.type, keyBase64: parsed.base64, appendOnly, quotaBytes, allowFrom: from };
        const line = renderAuthorizedKeysLine(host, '/backups');
        // The VM's comment is gone: the line ends with the key and the host name.
        expect(line.endsWith(` ${key.base64} ${name}\n`)).toBe(true);
        const path = join(scratch, `authorized_keys-${run++}`);
        writeFileSync(path, line);
        const listed = execFileSync('/usr/bin/ssh-keygen', ['-l', '-E', 'sha256', '-f', path], { encoding: 'utf8' }).trim().split('\n');
        expect(listed).toHaveLength(1);
        expect(listed[0]?.split(' ')[1]).toBe(key.fingerprint);
      }),
      { numRuns: 40 },
    );
  });
});
