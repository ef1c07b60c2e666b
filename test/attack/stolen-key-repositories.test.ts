import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { createWorldWritableDir, treeDigest, useAttackServer } from '../support/attack-server.js';
import { commandSwappingRsh } from '../support/attack-ssh.js';
import type { CommandResult } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A stolen key against repositories: another host's, one it makes up, its
 * quota, and its own history in append-only mode, which the admin must be able
 * to bring back whatever the VM did.
 */

const PUT_IGNORING_QUOTA = fileURLToPath(new URL('../fixtures/attack/put-ignoring-quota.py', import.meta.url));
const QUOTA_BYTES = 10_000_000;

function lastLine(result: CommandResult): string {
  const lines = `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 160);
}

describe('a stolen key against repositories', () => {
  const server = useAttackServer();
  const clients: BorgClient[] = [];
  let scratch: { path: string; remove(): Promise<void> } | undefined;

  beforeAll(async () => {
    scratch = await createWorldWritableDir('repositories');
  });

  afterAll(async () => {
    for (const client of clients) await client.remove();
    await scratch?.remove();
  });

  async function enrolledClient(name: string, tokenOptions: Parameters<typeof enrollAndApprove>[3] = {}) {
    const client = await createBorgClient(name);
    clients.push(client);
    const { repoUrl } = await enrollAndApprove(server().api, client, name, tokenOptions);
    return { client, repoUrl };
  }

  /** Bytes of segment files in a repository (what borg's quota is about), as the server's disk holds them. */
  async function segmentBytes(name: string): Promise<number> {
    const result = await server().sandbox.exec(['sh', '-c', 'find "$1" -type f -printf "%s\\n"', 'size', `/srv/backups/${name}/repo/data`]);
    return result.stdout
      .split('\n')
      .filter(Boolean)
      .reduce((total, size) => total + Number(size), 0);
  }

  describe("another host's repository", () => {
    const group = "stolen key: other host's repository";
    let victimUrl = '';
    let attacker: BorgClient;
    let attackerUrl = (_path: string) => '';
    let victimDigest = '';

    beforeAll(async () => {
      const victim = await enrolledClient('web1');
      victimUrl = victim.repoUrl;
      expect(await victim.client.run(['init', '--encryption', 'none', victimUrl])).toMatchObject({ exitCode: 0 });
      expect(await victim.client.run(['create', `${victimUrl}::first`, victim.client.dataDir])).toMatchObject({ exitCode: 0 });
      attacker = (await enrolledClient('web2')).client;
      attackerUrl = (path) => `ssh://web2@127.0.0.1:${server().sandbox.sshPort}${path}`;
      victimDigest = await treeDigest(server(), '/srv/backups/web1/repo');
    });

    const victimPaths = [
      '/srv/backups/web1/repo',
      '/./../web1/repo',
      '/srv/backups/web2/../web1/repo',
      '/srv/backups/web2/repo/../../web1/repo',
    ];

    attack(group, "list another host's repository (absolute path, ../, home-relative)", async () => {
      for (const path of victimPaths) {
        const result = await attacker.run(['list', attackerUrl(path)]);
        expect(result.exitCode, path).not.toBe(0);
        expect(result.stdout, path).not.toContain('first');
      }
      expect(await treeDigest(server(), '/srv/backups/web1/repo')).toBe(victimDigest);
      return `${victimPaths.length} paths refused; web1's files unchanged`;
    });

    attack(group, "read (extract) from another host's repository", async () => {
      const target = await mkdtemp(join(tmpdir(), 'attack-extract-'));
      try {
        for (const path of victimPaths.slice(0, 2)) {
          const result = await attacker.run(['extract', `${attackerUrl(path)}::first`], { cwd: target });
          expect(result.exitCode, path).not.toBe(0);
        }
        expect((await execa('find', [target, '-type', 'f'])).stdout).toBe('');
        return 'extract refused; nothing extracted';
      } finally {
        await rm(target, { recursive: true, force: true });
      }
    });

    attack(group, "write (create an archive) into another host's repository", async () => {
      const result = await attacker.run(['create', `${attackerUrl('/srv/backups/web1/repo')}::intruder`, attacker.dataDir]);
      expect(result.exitCode).not.toBe(0);
      expect(await treeDigest(server(), '/srv/backups/web1/repo')).toBe(victimDigest);
      return `create refused (${lastLine(result)}); web1's files unchanged`;
    });

    attack(group, "lock another host's repository (with-lock, break-lock)", async () => {
      const withLock = await attacker.run(['with-lock', attackerUrl('/srv/backups/web1/repo'), 'true']);
      const breakLock = await attacker.run(['break-lock', attackerUrl('/srv/backups/web1/repo')]);
      expect(withLock.exitCode).not.toBe(0);
      expect(breakLock.exitCode).not.toBe(0);
      expect(await treeDigest(server(), '/srv/backups/web1/repo')).toBe(victimDigest);
      return "with-lock and break-lock refused; no lock file in web1's repository";
    });

    attack(group, 'log in as another host: its own key for the other account', async () => {
      const result = await attacker.run(['list', victimUrl]);
      const ssh = await attacker.ssh({ user: 'web1', port: server().sandbox.sshPort });
      expect(result.exitCode).not.toBe(0);
      expect(ssh.exitCode).toBe(255);
      expect(ssh.stderr).toContain('Permission denied (publickey)');
      return "Permission denied (publickey) for web2's key as web1";
    });

    attack(group, 'create a repository anywhere but its own (/tmp, its home, inside its repo, the state dir)', async () => {
      const targets = [`${scratch?.path}/made-up`, '/srv/backups/web2/other', '/srv/backups/web2/repo/nested', '/srv/state/evil'];
      for (const target of targets) {
        const result = await attacker.run(['init', '--encryption', 'none', attackerUrl(target)]);
        expect(result.exitCode, target).not.toBe(0);
      }
      expect(existsSync(`${scratch?.path}/made-up`)).toBe(false);
      const found = await server().sandbox.exec([
        'sh',
        '-c',
        'ls -d /srv/backups/web2/other /srv/backups/web2/repo/nested /srv/state/evil 2>/dev/null || true',
      ]);
      expect(found.stdout).toBe('');
      return `${targets.length} places refused; nothing created`;
    });
  });

  describe('the quota', () => {
    const group = 'stolen key: quota';
    let client: BorgClient;
    let repoUrl = '';

    beforeAll(async () => {
      ({ client, repoUrl } = await enrolledClient('small1', { quota: '10M' }));
      expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    });

    async function randomFile(name: string, bytes: number): Promise<string> {
      const path = join(client.dir, name);
      await writeFile(path, randomBytes(bytes));
      return path;
    }

    /** The server may need a moment to clean up after a session that went over the quota. */
    async function settledSegmentBytes(): Promise<number> {
      let bytes = await segmentBytes('small1');
      const deadline = Date.now() + 60_000;
      while (bytes > QUOTA_BYTES && Date.now() < deadline) {
        await sleep(250);
        bytes = await segmentBytes('small1');
      }
      return bytes;
    }

    attack(group, 'back up 3 times the quota', async () => {
      const big = await randomFile('big.bin', 3 * QUOTA_BYTES);
      const result = await client.run(['create', `${repoUrl}::too-big`, big]);
      expect(result.exitCode).not.toBe(0);
      const bytes = await settledSegmentBytes();
      expect(bytes).toBeLessThanOrEqual(QUOTA_BYTES);
      const listing = await client.run(['list', '--short', repoUrl]);
      expect(listing.stdout).not.toContain('too-big');
      return `backup failed ("${lastLine(result)}"); repository holds ${bytes} bytes of segments (quota ${QUOTA_BYTES})`;
    });

    attack(group, 'drop --storage-quota from the forced command (client command without it, or with 1T)', async () => {
      const swap = await commandSwappingRsh(client);
      const big = await randomFile('big-widened.bin', 2 * QUOTA_BYTES);
      for (const command of ['borg serve --restrict-to-repository /srv/backups/small1/repo', 'borg serve --storage-quota 1T']) {
        const result = await client.run(['create', `${repoUrl}::widened-${randomBytes(2).toString('hex')}`, big], { env: swap(command) });
        expect(result.exitCode, command).not.toBe(0);
      }
      const bytes = await settledSegmentBytes();
      expect(bytes).toBeLessThanOrEqual(QUOTA_BYTES);
      return `both backups failed; repository holds ${bytes} bytes of segments`;
    });

    attack(group, 'a modified client that ignores the quota error and keeps writing', async () => {
      const result = await execa('python3', [PUT_IGNORING_QUOTA, repoUrl, '300'], {
        env: client.environment,
        extendEnv: false,
        reject: false,
        timeout: 120_000,
      });
      const bytes = await settledSegmentBytes();
      const output = String(result.stdout);
      const [, accepted = '0', refused = '0'] = /puts accepted: (\d+), refused: (\d+)/.exec(output) ?? [];
      expect(Number(accepted), output).toBeGreaterThan(0);
      expect(output).not.toContain('commit accepted');
      // It meant to write 300 MiB (6 s at its pace); the server's quota watch ended the session before.
      expect(output).toMatch(/cut off by the server: (ConnectionClosed|BrokenPipeError|ConnectionResetError)/);
      expect(Number(accepted) + Number(refused)).toBeLessThan(300);
      expect(bytes).toBeLessThanOrEqual(QUOTA_BYTES);
      return `${output.trim().split('\n').join('; ')}: the server ended the session; repository holds ${bytes} bytes of segments afterwards`;
    });

    attack(group, "a modified client whose objects end with the commit entry's bytes, past the quota", async () => {
      const { client: forger, repoUrl: forgerUrl } = await enrolledClient('forge1', { quota: '10M' });
      expect(await forger.run(['init', '--encryption', 'none', forgerUrl])).toMatchObject({ exitCode: 0 });
      const result = await execa('python3', [PUT_IGNORING_QUOTA, forgerUrl, '300', '--end-with-commit-tag'], {
        env: forger.environment,
        extendEnv: false,
        reject: false,
        timeout: 120_000,
      });
      const output = String(result.stdout);
      const [, accepted = '0', refused = '0'] = /puts accepted: (\d+), refused: (\d+)/.exec(output) ?? [];
      expect(Number(accepted), output).toBeGreaterThan(0);
      // Its segment ends like a committed one after every put; only borg's index.N says what was committed.
      expect(output).toMatch(/cut off by the server: (ConnectionClosed|BrokenPipeError|ConnectionResetError)/);
      expect(Number(accepted) + Number(refused)).toBeLessThan(300);
      const bytes = await waitFor('the uncommitted segments removed', async () => {
        const now = await segmentBytes('forge1');
        return now <= QUOTA_BYTES ? now : undefined;
      });
      const host = await server().api.request<{ status: string; lastBackupAt: string | null }>('GET', '/v1/admin/hosts/forge1', {
        bearer: server().api.adminToken,
      });
      expect(host.body.status).toBe('active');
      // Its commit tags count for nothing: the server records an aborted session, and no backup.
      const session = await waitFor('the forged session recorded', async () => {
        const listed = await server().api.request<{ sessions: { outcome: string; endedBy: string }[] }>(
          'GET',
          '/v1/admin/hosts/forge1/sessions',
          { bearer: server().api.adminToken },
        );
        return listed.body.sessions.find((entry) => entry.outcome === 'aborted');
      });
      expect(session.endedBy).toBe('quota-watch');
      expect(host.body.lastBackupAt).toBeNull();
      return `${output.trim().split('\n').join('; ')}: the session was ended and what it wrote removed; repository holds ${bytes} bytes of segments (quota ${QUOTA_BYTES}); recorded as an aborted session, no backup`;
    });

    attack(group, 'grow the disk past the quota by deleting and re-adding archives (append-only keeps deleted data)', async () => {
      const round = 4_000_000;
      const exits: number[] = [];
      for (let index = 0; index < 5; index += 1) {
        const chunk = await randomFile(`round-${index}.bin`, round);
        const created = await client.run(['create', `${repoUrl}::round-${index}`, chunk]);
        await client.run(['delete', `${repoUrl}::round-${index}`]);
        exits.push(created.exitCode ?? -1);
        await rm(chunk);
      }
      const bytes = await settledSegmentBytes();
      const host = await server().api.request<{ status: string }>('GET', '/v1/admin/hosts/small1', { bearer: server().api.adminToken });
      // borg alone accepts every round (its quota counts live data, and each round is deleted).
      // The server ends the round that crosses the quota, or disables the host if that round
      // committed before its next look: either way the disk stops growing.
      const firstRefused = exits.findIndex((exit) => exit !== 0);
      expect(firstRefused).toBeGreaterThan(0);
      expect(exits.slice(firstRefused).every((exit) => exit !== 0)).toBe(true);
      expect(bytes).toBeLessThanOrEqual(QUOTA_BYTES + 1_000_000 + round);
      return `5 rounds of 4 MB, create exits ${exits.join(',')}; repository holds ${bytes} bytes of segments; host ${host.body.status}`;
    });
  });
});
