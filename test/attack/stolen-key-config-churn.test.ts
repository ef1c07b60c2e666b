import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { freshBorgBaseDir, useAttackServer } from '../support/attack-server.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A stolen key that replaces the repository key over and over (`borg key
 * change-passphrase` in a loop: borg's save_key, allowed in append-only mode).
 * Every version the server keeps is a root-owned copy: without a cap it would
 * fill the disk outside the host's quota, four copies a second.
 */

/** The server's limits (CONFIG_CHURN and CONFIG_HISTORY_LIMITS in src/domain/config-versions.ts), as an operator reads them in the README. */
const CHURN_VERSIONS_PER_HOUR = 10;
const MAX_KEPT_VERSIONS = 20;

describe('a stolen key that churns the repository config', () => {
  const server = useAttackServer();
  const group = 'stolen key: config history';
  let client: BorgClient;
  let repoUrl = '';

  beforeAll(async () => {
    client = await createBorgClient('churn1');
    repoUrl = (await enrollAndApprove(server().api, client, 'churn1')).repoUrl;
    const env = { BORG_PASSPHRASE: 'passphrase 0', ...freshBorgBaseDir(client, 'init') };
    expect(await client.run(['init', '--encryption', 'repokey-blake2', repoUrl], { env })).toMatchObject({ exitCode: 0 });
  });

  afterAll(async () => {
    await client?.remove();
  });

  const historyFiles = async () =>
    (await server().sandbox.exec(['sh', '-c', 'ls /srv/backups/churn1/repo-config-history 2>/dev/null || true'])).stdout
      .split('\n')
      .filter(Boolean);

  attack(group, '`borg key change-passphrase` in a loop', async () => {
    // The first version (from init) is kept before the loop starts.
    await waitFor('the first config version kept', async () => ((await historyFiles()).length > 0 ? true : undefined));
    const env = freshBorgBaseDir(client, 'churn');
    let changes = 0;
    let lastExit = 0;
    for (let round = 0; round < 4 * CHURN_VERSIONS_PER_HOUR; round += 1) {
      const result = await client.run(['key', 'change-passphrase', repoUrl], {
        env: { ...env, BORG_PASSPHRASE: `passphrase ${round}`, BORG_NEW_PASSPHRASE: `passphrase ${round + 1}` },
      });
      lastExit = result.exitCode ?? -1;
      if (lastExit !== 0) break;
      changes += 1;
    }
    const status = await waitFor('the host disabled', async () => {
      const host = await server().api.request<{ status: string }>('GET', '/v1/admin/hosts/churn1', { bearer: server().api.adminToken });
      return host.body.status === 'disabled' ? host.body.status : undefined;
    });
    // Root's audit entry reaches the API in its own report, not necessarily with the host's status: wait for it.
    let actions: string[] = [];
    await waitFor(
      () => `the host.config-churn.disable audit entry; churn1's entries: ${actions.join(', ')}`,
      async () => {
        const audit = await server().api.request<{ entries: { action: string; target: string }[] }>('GET', '/v1/admin/audit?limit=1000', {
          bearer: server().api.adminToken,
        });
        actions = audit.body.entries.filter((entry) => entry.target === 'churn1').map((entry) => entry.action);
        return actions.includes('host.config-churn.disable') ? true : undefined;
      },
    );
    const kept = await historyFiles();
    expect(lastExit).not.toBe(0);
    expect(kept.length).toBeGreaterThan(CHURN_VERSIONS_PER_HOUR);
    expect(kept.length).toBeLessThanOrEqual(MAX_KEPT_VERSIONS);
    return `${changes} passphrase changes went through, then the login was refused; host ${status} (host.config-churn.disable), ${kept.length} config versions kept (cap ${MAX_KEPT_VERSIONS})`;
  });
});
