import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { hostUid, useAttackServer } from '../support/attack-server.js';
import { openBorgServeSession, openSsh, processesOfUid } from '../support/attack-ssh.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A stolen key that keeps a session open while the admin purges its host
 * (`borgctl hosts delete NAME --purge`): the session must end before the data
 * and the row go. The row held the UID; a session left running would belong
 * to the next host that gets that UID, inside that host's repository.
 */

describe('a stolen key while its host is purged', () => {
  const server = useAttackServer();
  const group = 'stolen key: session';
  let client: BorgClient;

  beforeAll(async () => {
    client = await createBorgClient('purged1');
    const { repoUrl } = await enrollAndApprove(server().api, client, 'purged1');
    expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
  });

  afterAll(async () => {
    await client?.remove();
  });

  attack(group, 'keep a borg serve session open while the admin purges the host', async () => {
    const { sandbox, api } = server();
    const uid = await hostUid(server(), 'purged1');
    const { session, serve } = await openBorgServeSession(uid, () => openSsh(client, { user: 'purged1', port: sandbox.sshPort }));
    try {
      const purged = await sandbox.borgctl(['hosts', 'delete', 'purged1', '--purge']);
      expect(purged.stderr).toContain('deleted with its data');
      await waitFor('the session to end', () => (session.hasExited() ? true : undefined), 30_000);
      // Killed and gone (a zombie not yet reaped does not count).
      await waitFor('borg serve of the purged host to end', async () =>
        (await processesOfUid(uid)).some((found) => found.pid === serve.pid) ? undefined : true,
      );
    } finally {
      await session.close();
    }
    expect((await sandbox.exec(['test', '-e', `${sandbox.backupDir}/purged1`], { reject: false })).exitCode).not.toBe(0);
    const hosts = await api.request<{ hosts: { name: string }[] }>('GET', '/v1/admin/hosts', { bearer: api.adminToken });
    expect(hosts.body.hosts.map((host) => host.name)).not.toContain('purged1');
    return `borg serve (pid ${serve.pid}, UID ${uid}) ended by the purge; repository and row gone`;
  });
});
