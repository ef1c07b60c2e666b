import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBorgServeSession, openSsh } from '../support/attack-ssh.js';
import { SANDBOX_STATE_DIR } from '../support/sandbox.js';
import { enrollAndApprove, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * What the admin changes about a host reaches its key line at once.
 * An append-only host cannot prune its own archives: the admin opens a
 * full-access window (`borgctl hosts full-access NAME --for 2h`), the VM
 * prunes and compacts, and when the window ends (`--end`, or its time) the
 * key line has --append-only again and a session still open is ended.
 * `borgctl hosts set` changes quota, source range and append-only mode.
 */

const KEY_FILE = `${SANDBOX_STATE_DIR}/ssh/authorized_keys/db1`;

describe('changing what a host may do', () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;
  let repoUrl = '';

  beforeEach(async () => {
    server = await startServerSandbox();
    client = await createBorgClient('db1');
    ({ repoUrl } = await enrollAndApprove(server.api, client, 'db1'));
    expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await client.run(['create', `${repoUrl}::kept`, `${client.dataDir}/hello.txt`])).toMatchObject({ exitCode: 0 });
  });

  afterEach(async (context) => {
    await client?.remove();
    await stopServerSandbox(server, context);
  });

  const sandbox = () => (server as ServerSandbox).sandbox;
  const borg = () => client as BorgClient;
  const segments = () => sandbox().listFiles('/srv/backups/db1/repo/data');

  /** Adds an archive, deletes it and compacts: the segment files that went away. */
  async function addDeleteAndCompact(archive: string): Promise<string[]> {
    expect(await borg().run(['create', `${repoUrl}::${archive}`, borg().dataDir])).toMatchObject({ exitCode: 0 });
    const before = await segments();
    expect(await borg().run(['delete', `${repoUrl}::${archive}`])).toMatchObject({ exitCode: 0 });
    expect(await borg().run(['compact', repoUrl])).toMatchObject({ exitCode: 0 });
    const after = await segments();
    return before.filter((file) => !after.includes(file));
  }

  it('lets the host compact while it is open; --end puts --append-only back and ends the open session', async () => {
    const opened = await sandbox().borgctl(['hosts', 'full-access', 'db1', '--for', '1h']);
    expect(opened.stderr).toMatch(/host db1 has full access \(prune, compact\) until \d{4}-/);
    expect(await sandbox().readFile(KEY_FILE)).not.toContain('--append-only');
    expect((await addDeleteAndCompact('pruned')).length).toBeGreaterThan(0);

    // A session opened with full access must not outlive the window.
    const uid = Number((await sandbox().exec(['id', '-u', 'db1'])).stdout.trim());
    const { session } = await openBorgServeSession(uid, () => openSsh(borg(), { user: 'db1', port: sandbox().sshPort }));
    try {
      const ended = await sandbox().borgctl(['hosts', 'full-access', 'db1', '--end']);
      expect(ended.stderr).toBe('ended the full-access window of host db1; it is append-only again\n');
      await Promise.race([session.exited, sleep(30_000)]);
      expect(session.hasExited(), 'the session outlived the window').toBe(true);
    } finally {
      await session.close();
    }
    expect(await sandbox().readFile(KEY_FILE)).toContain('--append-only');
    const endedAgain = await sandbox().borgctl(['hosts', 'full-access', 'db1', '--end']);
    expect(endedAgain.stderr).toBe('host db1 had no full-access window open; it stays append-only\n');
    expect(await addDeleteAndCompact('kept-by-append-only')).toEqual([]);

    const shown = JSON.parse((await sandbox().borgctl(['hosts', 'show', 'db1', '--json'])).stdout) as { fullAccessUntil: unknown }[];
    expect(shown[0]?.fullAccessUntil).toBeNull();
  });

  it('closes by itself when its time is up', async () => {
    await sandbox().borgctl(['hosts', 'full-access', 'db1', '--for', '20s']);
    expect(await sandbox().readFile(KEY_FILE)).not.toContain('--append-only');
    await waitFor(
      'the window to close',
      async () => ((await sandbox().readFile(KEY_FILE)).includes('--append-only') ? true : undefined),
      90_000,
    );
    expect(await addDeleteAndCompact('after-the-window')).toEqual([]);
  });

  it('refuses a window longer than 7 days, and one for a host that is not append-only', async () => {
    const tooLong = await sandbox().borgctl(['hosts', 'full-access', 'db1', '--for', '8d'], { reject: false });
    expect(tooLong.exitCode).not.toBe(0);
    expect(tooLong.stderr).toContain('at most 7 days');
    await sandbox().borgctl(['hosts', 'set', 'db1', '--no-append-only']);
    const notAppendOnly = await sandbox().borgctl(['hosts', 'full-access', 'db1', '--for', '1h'], { reject: false });
    expect(notAppendOnly.exitCode).not.toBe(0);
    expect(notAppendOnly.stderr).toContain('has full access already');
  });

  it('changes quota, source range and append-only mode with borgctl hosts set', async () => {
    await sandbox().borgctl(['hosts', 'set', 'db1', '--no-append-only']);
    expect(await sandbox().readFile(KEY_FILE)).not.toContain('--append-only');
    await sandbox().borgctl(['hosts', 'set', 'db1', '--append-only', '--quota', '20M', '--allow-from', '127.0.0.1/32']);
    const line = await sandbox().readFile(KEY_FILE);
    expect(line).toContain('--append-only');
    expect(line).toContain('--storage-quota 20000000');
    expect(line).toContain(',from="127.0.0.1/32"');
    await sandbox().borgctl(['hosts', 'set', 'db1', '--quota', 'none', '--allow-from', 'none']);
    expect(await sandbox().readFile(KEY_FILE)).not.toMatch(/--storage-quota|from=/);
  });

  it('refuses hosts set without a change or with a bad value, and changes nothing', async () => {
    const before = await sandbox().readFile(KEY_FILE);
    for (const [options, message] of [
      [[], 'nothing to change'],
      [['--quota', 'lots'], 'quota'],
      [['--allow-from', '*'], 'not an IP address or CIDR range'],
      [
        ['--allow-from', '127.0.0.1/32,bogus'],
        '"bogus" (entry 2 of 2) is not an IP address or CIDR range: give addresses or ranges such as 192.0.2.0/24, comma-separated',
      ],
    ] as const) {
      const refused = await sandbox().borgctl(['hosts', 'set', 'db1', ...options], { reject: false });
      expect(refused.exitCode, options.join(' ')).not.toBe(0);
      expect(refused.stderr).toContain(message);
    }
    expect(await sandbox().readFile(KEY_FILE)).toBe(before);
  });
});
