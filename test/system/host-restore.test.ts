import { describe, expect, it } from 'vitest';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { useServerAndClient } from '../support/sandbox-hooks.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `borgctl hosts restore` against the running server and a real append-only
 * repository: the commits it lists to choose from, and what the host views
 * say after the rollback (the last backup the repository still holds, not
 * the rolled-back one, so a host that lost its recent backups looks it).
 */

interface SessionView {
  outcome: string;
  endedAt: string;
}

describe('borgctl hosts restore', () => {
  const setup = useServerAndClient('db1');

  const get = async <T>(path: string) => {
    const { api } = setup.server;
    return (await api.request<T>('GET', path, { bearer: api.adminToken })).body;
  };
  const sessions = async () => (await get<{ sessions: SessionView[] }>('/v1/admin/hosts/db1/sessions')).sessions;
  /** Runs a borg command and waits until the server recorded its session. */
  const recorded = async (arguments_: string[]): Promise<SessionView> => {
    const before = (await sessions()).length;
    expect(await setup.client.run(arguments_)).toMatchObject({ exitCode: 0 });
    return waitFor(`the session of borg ${arguments_[0]}`, async () => {
      const now = await sessions();
      return now.length > before ? now[0] : undefined;
    });
  };

  it('lists the commits newest first, and after a rollback shows the last backup the repository still holds', async () => {
    const { sandbox, api } = setup.server;
    const borg = setup.client;
    const { repoUrl } = await enrollAndApprove(api, borg, 'db1');
    await recorded(['init', '--encryption', 'none', repoUrl]);
    const first = await recorded(['create', `${repoUrl}::first`, borg.dataDir]);
    const second = await recorded(['create', `${repoUrl}::second`, borg.dataDir]);
    expect([first.outcome, second.outcome]).toEqual(['backup', 'backup']);
    expect((await get<{ lastBackupAt: string }>('/v1/admin/hosts/db1')).lastBackupAt).toBe(second.endedAt);

    const listed = await sandbox.borgctl(['hosts', 'restore', 'db1', '--list']);
    const [header, ...rows] = listed.stdout.trim().split('\n');
    expect(header).toMatch(/^id\s+committedAt$/);
    const commits = rows.map((row) => {
      const [id, committedAt] = row.split(/\s+/);
      return { id: Number(id), committedAt: committedAt as string };
    });
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expect(commits.map((commit) => commit.id)).toEqual(commits.map((commit) => commit.id).sort((a, b) => b - a));

    // Back to before the second backup's last commit.
    const restored = await sandbox.borgctl(['hosts', 'restore', 'db1', '--before', (commits[0] as { committedAt: string }).committedAt]);
    expect(restored.stderr).toContain(`its last backup is now the one of ${first.endedAt}`);
    const host = await waitFor('the last backup after the restore', async () => {
      const view = await get<{ lastBackupAt: string; backupStatus: string }>('/v1/admin/hosts/db1');
      return view.lastBackupAt === second.endedAt ? undefined : view;
    });
    expect(host).toMatchObject({ lastBackupAt: first.endedAt, backupStatus: 'ok' });
    expect(JSON.parse((await sandbox.borgctl(['hosts', 'show', 'db1', '--json'])).stdout)[0].lastBackupAt).toBe(first.endedAt);
  });
});
