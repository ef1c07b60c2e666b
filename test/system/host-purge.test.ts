import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBorgServeSession, openSsh, processesOfUid } from '../support/attack-ssh.js';
import { enrollAndApprove, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `borgctl hosts delete NAME --purge` on a host that is backing up right now:
 * its open borg serve session ends before its data and its row go (the row
 * held the UID; a session left running would belong to the next host that
 * gets that UID).
 */

describe('purging a host with an open session', () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;

  beforeEach(async () => {
    server = await startServerSandbox();
    client = await createBorgClient('db1');
    const { repoUrl } = await enrollAndApprove(server.api, client, 'db1');
    expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
  });

  afterEach(async (context) => {
    await client?.remove();
    await stopServerSandbox(server, context);
  });

  it('ends the session, then removes the repository', async () => {
    const { sandbox } = server as ServerSandbox;
    const borg = client as BorgClient;
    const uid = Number((await sandbox.exec(['id', '-u', 'db1'])).stdout.trim());
    const { session, serve } = await openBorgServeSession(uid, () => openSsh(borg, { user: 'db1', port: sandbox.sshPort }));
    try {
      const purged = await sandbox.borgctl(['hosts', 'delete', 'db1', '--purge']);
      expect(purged.stderr).toContain('deleted with its data');
      await waitFor('the session to end', () => (session.hasExited() ? true : undefined), 30_000);
      // Killed and gone (a zombie not yet reaped does not count).
      await waitFor('borg serve of the purged host to end', async () =>
        (await processesOfUid(uid)).some((found) => found.pid === serve.pid) ? undefined : true,
      );
    } finally {
      await session.close();
    }
    expect((await sandbox.exec(['test', '-e', `${sandbox.backupDir}/db1`], { reject: false })).exitCode).not.toBe(0);
    expect((await sandbox.borgctl(['hosts', 'list', '--json'])).stdout).not.toContain('"db1"');
  });
});
