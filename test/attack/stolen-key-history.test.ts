import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { freshBorgBaseDir, hostUid, useAttackServer } from '../support/attack-server.js';
import { processesOfUid } from '../support/attack-ssh.js';
import type { CommandResult } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A stolen key against its own history, in append-only mode (the default):
 * whatever the VM does to its archives, `borgctl hosts restore NAME --before T`
 * brings every archive made before T back. Each attack is followed by a
 * restore and a check from a trusted machine: a fresh BORG_BASE_DIR, the
 * owner's passphrase, `borg list` and `borg extract` of every archive.
 */

const OWNER_PASSPHRASE = 'owner passphrase, never on the server';

describe('a stolen key against its own history (append-only)', () => {
  const server = useAttackServer();
  let client: BorgClient;
  let repoUrl = '';
  let uid = 0;
  let before = '';
  const group = 'stolen key: append-only history';

  const owner = (label: string) => ({ BORG_PASSPHRASE: OWNER_PASSPHRASE, ...freshBorgBaseDir(client, label) });
  /** The thief has the VM, so its passphrase too; a fresh cache keeps borg's own replay check out of the way. */
  const thief = (label: string) => owner(`thief-${label}`);

  beforeAll(async () => {
    client = await createBorgClient('db1');
    repoUrl = (await enrollAndApprove(server().api, client, 'db1')).repoUrl;
    uid = await hostUid(server(), 'db1');
    const setup = owner('setup');
    expect(await client.run(['init', '--encryption', 'repokey-blake2', repoUrl], { env: setup })).toMatchObject({ exitCode: 0 });
    expect(await client.run(['create', `${repoUrl}::first`, client.dataDir], { env: setup })).toMatchObject({ exitCode: 0 });
    await writeFile(join(client.dataDir, 'second.txt'), 'only in the second archive\n');
    expect(await client.run(['create', `${repoUrl}::second`, client.dataDir], { env: setup })).toMatchObject({ exitCode: 0 });
    // Commit times are in the transaction log; anything after this instant is the attack.
    await sleep(1100);
    before = new Date().toISOString();
    await sleep(1100);
  });

  afterAll(async () => {
    await client?.remove();
  });

  /** The admin's restore, then the owner's check: both archives listed and extracted with their files. */
  async function restoreAndVerify(): Promise<string> {
    const restored = await server().sandbox.borgctl(['hosts', 'restore', 'db1', '--before', before], { reject: false });
    expect(restored.stderr, restored.stderr).toContain('restored db1');
    const env = owner('verify');
    const listing = await client.run(['list', '--short', repoUrl], { env });
    expect(listing.stderr).toBe('');
    expect(listing.stdout.split('\n').filter(Boolean)).toEqual(['first', 'second']);
    for (const archive of ['first', 'second']) {
      const target = await mkdtemp(join(tmpdir(), `attack-verify-${archive}-`));
      try {
        expect(await client.run(['extract', `${repoUrl}::${archive}`], { env, cwd: target })).toMatchObject({ exitCode: 0 });
        const extracted = join(target, client.dataDir);
        expect(await readFile(join(extracted, 'hello.txt'), 'utf8')).toBe('hello from db1\n');
        expect(await readFile(join(extracted, 'nested', 'data.bin'))).toEqual(await readFile(join(client.dataDir, 'nested', 'data.bin')));
        if (archive === 'second') expect(await readFile(join(extracted, 'second.txt'), 'utf8')).toBe('only in the second archive\n');
      } finally {
        await rm(target, { recursive: true, force: true });
      }
    }
    const summary = restored.stderr.trim().split(';')[0] ?? '';
    return restored.stderr.includes('repository config') ? `${summary}, config and key put back` : summary;
  }

  const exits = (results: CommandResult[]) => results.map((result) => result.exitCode).join(',');

  attack(group, '`borg delete` every archive, then restore', async () => {
    const env = thief('delete');
    const results = [
      await client.run(['delete', `${repoUrl}::first`], { env }),
      await client.run(['delete', `${repoUrl}::second`], { env }),
    ];
    expect((await client.run(['list', '--short', repoUrl], { env: owner('after-delete') })).stdout).toBe('');
    return `deletes exited ${exits(results)}, list was empty; ${await restoreAndVerify()}; both archives listed and extracted`;
  });

  attack(group, '`borg prune --keep-last 1` + `borg compact`, then restore', async () => {
    const env = thief('prune');
    const results = [
      await client.run(['prune', '--keep-last', '1', repoUrl], { env }),
      await client.run(['compact', '--threshold', '0', repoUrl], { env }),
    ];
    return `prune/compact exited ${exits(results)}; ${await restoreAndVerify()}; both archives back`;
  });

  attack(group, '`borg delete` the whole repository', async () => {
    const result = await client.run(['delete', repoUrl], {
      env: { ...thief('delete-repository'), BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'YES' },
    });
    expect(result.exitCode).not.toBe(0);
    expect((await server().sandbox.exec(['test', '-f', '/srv/backups/db1/repo/config'], { reject: false })).exitCode).toBe(0);
    return `refused by borg serve (exit ${result.exitCode}); ${await restoreAndVerify()}`;
  });

  attack(group, '`borg check --repair`', async () => {
    const result = await client.run(['check', '--repair', repoUrl], {
      env: { ...thief('repair'), BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: 'YES' },
    });
    expect(result.exitCode).not.toBe(0);
    return `refused (exit ${result.exitCode}); ${await restoreAndVerify()}`;
  });

  attack(group, 'write junk: `debug put-obj`, a junk archive, and `debug delete-obj` of the manifest', async () => {
    const env = thief('junk');
    const junk = join(client.dir, 'junk.bin');
    await writeFile(junk, 'junk '.repeat(10_000));
    const results = [
      await client.run(['debug', 'put-obj', repoUrl, junk], { env }),
      await client.run(['create', `${repoUrl}::junk`, junk], { env }),
      await client.run(['debug', 'delete-obj', repoUrl, '0'.repeat(64)], { env }),
    ];
    expect((await client.run(['list', repoUrl], { env: owner('after-junk') })).exitCode).not.toBe(0);
    return `junk written, manifest deleted (exits ${exits(results)}), list broken; ${await restoreAndVerify()}`;
  });

  attack(group, 'replace the repository key: `borg key change-passphrase`', async () => {
    const result = await client.run(['key', 'change-passphrase', repoUrl], {
      env: { ...thief('passphrase'), BORG_NEW_PASSPHRASE: 'the thief knows this one' },
    });
    expect((await client.run(['list', repoUrl], { env: owner('after-passphrase') })).exitCode).not.toBe(0);
    const evidence = await restoreAndVerify();
    expect(evidence).toContain('config and key put back');
    return `passphrase changed (exit ${result.exitCode}), owner locked out; ${evidence}`;
  });

  attack(group, 'replace the repository key: `borg key import` of a junk key', async () => {
    const env = thief('import');
    const exported = join(client.dir, 'exported.key');
    expect(await client.run(['key', 'export', repoUrl, exported], { env })).toMatchObject({ exitCode: 0 });
    const [header = ''] = (await readFile(exported, 'utf8')).split('\n');
    const junkKey = join(client.dir, 'junk.key');
    await writeFile(junkKey, `${header}\n${Buffer.from('not a key at all').toString('base64')}\n`);
    const result = await client.run(['key', 'import', repoUrl, junkKey], { env });
    expect((await client.run(['list', repoUrl], { env: owner('after-import') })).exitCode).not.toBe(0);
    const evidence = await restoreAndVerify();
    expect(evidence).toContain('config and key put back');
    return `junk key imported (exit ${result.exitCode}), owner locked out; ${evidence}`;
  });

  attack(group, 'hold the repository lock (open session) while the admin restores', async () => {
    await client.run(['delete', `${repoUrl}::first`], { env: thief('lock') });
    // borg with-lock keeps its session (and borg serve's lock) while the local command runs.
    const holding = execa('borg', ['with-lock', repoUrl, 'sleep', '600'], {
      env: { ...client.environment, ...thief('lock-holder') },
      extendEnv: false,
      reject: false,
      // Its local `sleep` would hold pipes open after borg is killed; in a group of its own, so
      // that the kill below reaches the sleep too (it outlived the test otherwise).
      stdio: 'ignore',
      detached: true,
    });
    try {
      await waitFor('the lock of the running session', async () =>
        (await server().sandbox.exec(['test', '-d', '/srv/backups/db1/repo/lock.exclusive'], { reject: false })).exitCode === 0
          ? true
          : undefined,
      );
      const holder = (await processesOfUid(uid)).find((info) => info.commandLine.includes('borg serve'));
      expect(holder).toBeDefined();
      const evidence = await restoreAndVerify();
      expect((await processesOfUid(uid)).map((info) => info.pid)).not.toContain(holder?.pid);
      return `lock held by borg serve (pid ${holder?.pid}); ${evidence}; that session was ended`;
    } finally {
      try {
        process.kill(-(holding.pid as number), 'SIGKILL');
      } catch {
        // Already gone.
      }
      await holding;
    }
  });

  attack(group, 'log in again and again while the admin restores', async () => {
    await client.run(['delete', `${repoUrl}::first`], { env: thief('relogin') });
    const destination = { user: 'db1', port: server().sandbox.sshPort };
    const attempts: { exitCode: number | undefined }[] = [];
    let isRestoring = true;
    const thiefLoop = (async () => {
      while (isRestoring) {
        // The forced borg serve ends at once on an empty input: 0 when let in, 255 when refused.
        const result = await client.ssh(destination, [], { input: '', timeoutMs: 20_000 });
        attempts.push({ exitCode: result.exitCode });
      }
    })();
    let evidence: string;
    // Earlier attacks restored too: only the entries of this restore count.
    let restoreStartedAt = '';
    try {
      await waitFor('a login of the thief', () => (attempts.some((attempt) => attempt.exitCode === 0) ? true : undefined));
      restoreStartedAt = new Date().toISOString();
      evidence = await restoreAndVerify();
    } finally {
      isRestoring = false;
      await thiefLoop;
    }
    // Root reports its audit entries to the API on its own time: wait until the restore's last one came.
    const restoreEntries = await waitFor("the restore's audit entries, up to host.let-in", async () => {
      const audit = await server().api.request<{ entries: { action: string; target: string; at: string }[] }>(
        'GET',
        '/v1/admin/audit?limit=50',
        {
          bearer: server().api.adminToken,
        },
      );
      const entries = audit.body.entries
        .filter((entry) => entry.target === 'db1' && entry.action.startsWith('host.') && entry.at >= restoreStartedAt)
        .reverse();
      return entries.at(-1)?.action === 'host.let-in' ? entries : undefined;
    });
    expect(restoreEntries.map((entry) => entry.action)).toEqual(['host.lock-out', 'host.restore', 'host.let-in']);
    // Which attempt fell in which instant is timing; the order is not (test/unit/restore pins it exactly).
    const refused = attempts.filter((attempt) => attempt.exitCode === 255).length;
    // Let in again afterwards.
    expect((await client.ssh(destination, [], { input: '' })).exitCode).toBe(0);
    return `${attempts.length} logins tried during the restore, ${refused} refused; audit: lock-out, restore, let-in; ${evidence}`;
  });
});
