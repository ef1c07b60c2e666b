import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/process/run.js';
import { ensureSshHostKeys } from '../../src/root/sshd/host-key-generation.js';
import { isAtLeast, readOpenSshVersion } from '../../src/root/sshd/openssh-version.js';
import { renderSshdConfig } from '../../src/root/sshd/sshd-config.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

/**
 * What this machine's sshd makes of the configuration the server writes
 * (`sshd -T`, the effective settings for one connection). The attack suite
 * shows each door closed; several are closed twice (DisableForwarding and
 * AllowTcpForwarding, AllowGroups and PermitRootLogin, `restrict` in each key
 * line), so an attack alone would not notice one layer gone. These tests
 * fail when any single layer goes. `sshd -T` needs its privilege separation
 * directory (/run/sshd), which a fresh machine lacks until an sshd service has
 * run once: it runs in a sandbox, whose /run is private, as `borgctl serve` makes it.
 */

const HARDENED: [string, string][] = [
  ['pubkeyauthentication', 'yes'],
  ['passwordauthentication', 'no'],
  ['kbdinteractiveauthentication', 'no'],
  ['hostbasedauthentication', 'no'],
  ['gssapiauthentication', 'no'],
  ['permitemptypasswords', 'no'],
  ['permitrootlogin', 'no'],
  ['allowgroups', 'borg-hosts'],
  ['authorizedprincipalsfile', 'none'],
  ['usepam', 'no'],
  ['strictmodes', 'yes'],
  ['disableforwarding', 'yes'],
  ['allowtcpforwarding', 'no'],
  ['allowagentforwarding', 'no'],
  ['allowstreamlocalforwarding', 'no'],
  ['x11forwarding', 'no'],
  ['permittunnel', 'no'],
  ['gatewayports', 'no'],
  ['permittty', 'no'],
  ['permituserrc', 'no'],
  // Only the marker a maintainer's key line sets (environment=, in root's own key files).
  ['permituserenvironment', 'BORG_SERVER_KEY'],
  ['permitlisten', 'none'],
  ['permitopen', 'none'],
  ['maxauthtries', '3'],
  ['maxsessions', '1'],
  ['persourcemaxstartups', '10'],
  ['persourcenetblocksize', '32:64'],
  // What ssh-audit passes (the attack suite runs it): no NIST curves, SHA-1, small tags or encrypt-and-MAC.
  // Rendered here without asking the installed OpenSSH or the CPU: the names every supported version has.
  ['kexalgorithms', 'curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512'],
  ['ciphers', 'chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com'],
  ['macs', 'hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com'],
  ['hostkeyalgorithms', 'ssh-ed25519,rsa-sha2-512,rsa-sha2-256'],
];

describe("sshd's effective configuration", () => {
  let directory = '';
  let configPath = '';
  let sandbox: Sandbox | undefined;

  beforeAll(async () => {
    sandbox = await createSandbox({ createApiUser: false });
    await sandbox.exec(['mkdir', '-m', '0755', '/run/sshd']);
    directory = await mkdtemp(join(tmpdir(), 'sshd-hardening-'));
    const sshDir = join(directory, 'ssh');
    await mkdir(sshDir, { mode: 0o700 });
    await ensureSshHostKeys(sshDir, run);
    const hasPerSourcePenalties = isAtLeast(await readOpenSshVersion(run), 9, 8);
    const config = renderSshdConfig({
      port: 2222,
      listenAddresses: ['127.0.0.1'],
      sshDir,
      authorizedKeysDir: join(directory, 'authorized_keys'),
      hasPerSourcePenalties,
    });
    configPath = join(directory, 'sshd_config');
    await writeFile(configPath, config, { mode: 0o600 });
  });

  afterAll(async () => {
    await sandbox?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function effectiveSettings(user: string): Promise<Map<string, string>> {
    const result = await (sandbox as Sandbox).exec([
      '/usr/sbin/sshd',
      '-T',
      '-f',
      configPath,
      '-C',
      `user=${user},host=vm.example,addr=192.0.2.7`,
    ]);
    const settings = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const [name = '', ...value] = line.split(' ');
      settings.set(name, value.join(' '));
    }
    return settings;
  }

  it.each(['web1', 'root'])('keeps every door closed for %s', async (user) => {
    const settings = await effectiveSettings(user);
    for (const [name, value] of HARDENED) expect(settings.get(name), name).toBe(value);
  });

  it('reads key lines only from the root-owned directory, one file per user', async () => {
    const settings = await effectiveSettings('web1');
    expect(settings.get('authorizedkeysfile')).toBe(`${join(directory, 'authorized_keys')}/%u`);
  });
});
