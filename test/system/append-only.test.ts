import { describe, expect, it } from 'vitest';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { useServerAndClient } from '../support/sandbox-hooks.js';

/**
 * A compromised VM must not be able to destroy its own backups: in append-only
 * mode (the default) `borg delete` + `borg compact` from the client removes no
 * segment file on the server. The same steps with full access do remove some,
 * which shows the comparison can fail.
 */

describe('append-only repositories', () => {
  const setup = useServerAndClient('db1');

  /** Two archives, then the client deletes the second and compacts: the segment files before and after. */
  async function deleteAndCompact(appendOnly: boolean) {
    const { sandbox, api } = setup.server;
    const borg = setup.client;
    const { repoUrl } = await enrollAndApprove(api, borg, 'db1', { appendOnly });
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repoUrl}::kept`, `${borg.dataDir}/hello.txt`])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repoUrl}::doomed`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const segmentsBefore = await sandbox.listFiles('/srv/backups/db1/repo/data');
    expect(await borg.run(['delete', `${repoUrl}::doomed`])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['compact', repoUrl])).toMatchObject({ exitCode: 0 });
    const segmentsAfter = await sandbox.listFiles('/srv/backups/db1/repo/data');
    return { segmentsBefore, segmentsAfter };
  }

  it('keeps every segment file when the client deletes an archive and compacts', async () => {
    const { segmentsBefore, segmentsAfter } = await deleteAndCompact(true);
    expect(segmentsBefore.length).toBeGreaterThan(0);
    expect(segmentsBefore.filter((file) => !segmentsAfter.includes(file))).toEqual([]);
  });

  it('lets a full-access host compact away the segments of a deleted archive', async () => {
    const { segmentsBefore, segmentsAfter } = await deleteAndCompact(false);
    expect(segmentsBefore.filter((file) => !segmentsAfter.includes(file)).length).toBeGreaterThan(0);
  });
});
