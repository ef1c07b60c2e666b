import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostUid } from '../support/attack-server.js';
import { openBorgServeSession, openSsh } from '../support/attack-ssh.js';
import { SANDBOX_STATE_DIR } from '../support/sandbox.js';
import { enrollAndApprove, type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Maintainer keys: a trusted machine prunes and compacts a granted host's
 * repository with full access, through a key line of its own in that host's
 * key file, while the VM's own key stays append-only. Real sshd, real borg.
 */

const ID_OUTPUT = /uid=\d+\(/;

describe('maintainer keys', () => {
  let server: ServerSandbox | undefined;
  let vm: BorgClient | undefined;
  let maintainer: BorgClient | undefined;
  let other: BorgClient | undefined;

  beforeEach(async () => {
    server = await startServerSandbox();
    vm = await createBorgClient('db1');
    maintainer = await createBorgClient('trusted');
  });

  afterEach(async (context) => {
    await vm?.remove();
    await maintainer?.remove();
    await other?.remove();
    other = undefined;
    await stopServerSandbox(server, context);
  });

  const admin = (method: string, path: string, body?: unknown) => {
    const { api } = server as ServerSandbox;
    return api.request(method, path, { bearer: api.adminToken, ...(body === undefined ? {} : { body }) });
  };

  /** db1 enrolled append-only with two archives; the maintainer registered from `allowFrom` and granted db1. */
  async function setUp(allowFrom = '127.0.0.1/32') {
    const { api } = server as ServerSandbox;
    const borg = vm as BorgClient;
    const trusted = maintainer as BorgClient;
    const { repoUrl, knownHosts } = await enrollAndApprove(api, borg, 'db1', { appendOnly: true });
    await trusted.writeKnownHosts(knownHosts);
    expect(await borg.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repoUrl}::kept`, `${borg.dataDir}/hello.txt`])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['create', `${repoUrl}::doomed`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const added = await admin('POST', '/v1/admin/maintainers', { name: 'trusted', publicKey: trusted.publicKey, allowFrom });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const granted = await admin('POST', '/v1/admin/maintainers/trusted/grant', { hosts: ['db1'] });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect(granted.body).toMatchObject({ hosts: ['db1'], allHosts: false });
    return { repoUrl, knownHosts };
  }

  const segments = () => (server as ServerSandbox).sandbox.listFiles('/srv/backups/db1/repo/data');
  const removedBetween = (before: string[], after: string[]) => before.filter((file) => !after.includes(file));

  const hostView = async () => (await admin('GET', '/v1/admin/hosts/db1')).body as { maintenanceHold: { reason: string } | null };
  const sessionsOf = async () =>
    (await admin('GET', '/v1/admin/hosts/db1/sessions')).body.sessions as {
      outcome: string;
      maintainer: string | null;
      lastCommitBefore: number;
    }[];

  it('frees space when the maintainer prunes and compacts (its session is its own, not a backup), and nothing when the VM does', async () => {
    const { repoUrl } = await setUp();
    const borg = vm as BorgClient;
    const trusted = maintainer as BorgClient;

    // The maintainer, through its own line (no --append-only), on the same account and repository.
    const beforeMaintainer = await segments();
    const pruned = await trusted.run(['prune', '--keep-last', '1', repoUrl]);
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect(await trusted.run(['compact', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(removedBetween(beforeMaintainer, await segments()).length).toBeGreaterThan(0);
    // Recorded as the maintainer's: it neither counts as the host's backup nor holds the maintainer out.
    await waitFor('the maintainer sessions recorded', async () => {
      const sessions = await sessionsOf();
      return sessions.some((session) => session.maintainer === 'trusted' && session.outcome === 'changed') ? true : undefined;
    });
    expect((await hostView()).maintenanceHold).toBeNull();
    const audit = (await admin('GET', '/v1/admin/audit')).body.entries as { actor: string; action: string; target: string }[];
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'maintainer:trusted', action: 'maintainer.session', target: 'db1' }));

    // The VM's own line is unchanged by the grant: append-only.
    expect(await borg.run(['create', `${repoUrl}::third`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    const beforeVm = await segments();
    expect(await borg.run(['delete', `${repoUrl}::third`])).toMatchObject({ exitCode: 0 });
    expect(await borg.run(['compact', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(removedBetween(beforeVm, await segments())).toEqual([]);
  });

  it("holds the maintainer out after the VM's own key deleted an archive, until an admin acknowledges", async () => {
    const { repoUrl } = await setUp();
    const borg = vm as BorgClient;
    const trusted = maintainer as BorgClient;
    // Its init and backups hold nothing: the maintainer reaches the host.
    expect(await trusted.run(['list', repoUrl])).toMatchObject({ exitCode: 0 });
    expect((await hostView()).maintenanceHold).toBeNull();

    expect(await borg.run(['delete', `${repoUrl}::doomed`])).toMatchObject({ exitCode: 0 });
    const hold = await waitFor('the host held for maintenance', async () => (await hostView()).maintenanceHold ?? undefined);
    expect(hold.reason).toContain('acknowledge');
    // Root reports the hold and takes the maintainer's line out in turn: the line is gone once reconciled.
    const keyFile = `${SANDBOX_STATE_DIR}/ssh/authorized_keys/db1`;
    await waitFor('the maintainer line taken out', async () =>
      (await (server as ServerSandbox).sandbox.readFile(keyFile)).includes('maintainer:trusted') ? undefined : true,
    );
    expect(await (server as ServerSandbox).sandbox.readFile(keyFile)).toContain('--append-only');
    const shown = await (server as ServerSandbox).sandbox.borgctl(['hosts', 'show', 'db1']);
    expect(shown.stdout).toContain('maintainers held out since');
    const segmentsHeld = await segments();
    const refused = await trusted.run(['compact', repoUrl]);
    expect(refused.exitCode).not.toBe(0);
    expect(removedBetween(segmentsHeld, await segments())).toEqual([]);
    // The VM itself goes on backing up.
    expect(await borg.run(['create', `${repoUrl}::after`, `${borg.dataDir}/hello.txt`])).toMatchObject({ exitCode: 0 });

    const acknowledged = await admin('POST', '/v1/admin/hosts/db1/acknowledge');
    expect(acknowledged.status, JSON.stringify(acknowledged.body)).toBe(200);
    expect(acknowledged.body).toMatchObject({ host: 'db1', wasHeld: true });
    expect((await hostView()).maintenanceHold).toBeNull();
    expect(await trusted.run(['compact', repoUrl])).toMatchObject({ exitCode: 0 });
    expect(removedBetween(segmentsHeld, await segments()).length).toBeGreaterThan(0);
  });

  it("holds the maintainer out when the VM's own key deleted beside a backup in one session", async () => {
    const { repoUrl } = await setUp();
    const { sandbox } = server as ServerSandbox;
    const borg = vm as BorgClient;
    const uid = await hostUid(server as ServerSandbox, 'db1');
    // A connection of the VM's own key held open makes its delete and its next backup one session, as a compromised
    // VM would to pass its delete off as a backup (the session's net objects grow and its manifest is new).
    const { session } = await openBorgServeSession(uid, () => openSsh(borg, { user: 'db1', port: sandbox.sshPort }));
    try {
      expect(await borg.run(['delete', `${repoUrl}::doomed`])).toMatchObject({ exitCode: 0 });
      // New files, each its own chunk: the session's net object count grows whatever the delete took.
      for (let file = 0; file < 5; file += 1) await writeFile(join(borg.dataDir, `fresh-${file}.bin`), randomBytes(16_384));
      expect(await borg.run(['create', `${repoUrl}::cover`, borg.dataDir])).toMatchObject({ exitCode: 0 });
    } finally {
      await session.close();
    }
    const hold = await waitFor('the host held for maintenance', async () => (await hostView()).maintenanceHold ?? undefined);
    expect(hold.reason).toContain('acknowledge');
    // One session: the delete was not recorded as a change of its own (that alone would hold).
    const sessions = await sessionsOf();
    expect(sessions[0]).toMatchObject({ outcome: 'backup', maintainer: null });
    expect(sessions.filter((recorded) => recorded.outcome === 'changed' && recorded.lastCommitBefore >= 0)).toEqual([]);
  });

  it('reaches no host it was not granted, no other path, and no shell', async () => {
    const { knownHosts } = await setUp();
    const { api, sandbox } = server as ServerSandbox;
    const trusted = maintainer as BorgClient;
    other = await createBorgClient('db2');
    const db2 = await enrollAndApprove(api, other, 'db2', { appendOnly: true });
    expect(await other.run(['init', '--encryption', 'none', db2.repoUrl])).toMatchObject({ exitCode: 0 });
    await trusted.writeKnownHosts(knownHosts);

    const listOther = await trusted.run(['list', db2.repoUrl]);
    expect(listOther.exitCode).not.toBe(0);
    expect(listOther.stderr).toMatch(/Permission denied|Connection closed/);

    // Through db1's account, db2's repository by its absolute path: borg serve refuses it.
    const otherPath = `ssh://db1@127.0.0.1:${sandbox.sshPort}/srv/backups/db2/repo`;
    const viaOtherPath = await trusted.run(['list', otherPath]);
    expect(viaOtherPath.exitCode).not.toBe(0);

    for (const command of [['id'], ['sh', '-c', "'id; cat /etc/passwd'"], ['bash']]) {
      const result = await trusted.ssh({ user: 'db1', port: sandbox.sshPort }, command, { input: 'id\n' });
      expect(`${result.stdout}${result.stderr}`, command.join(' ')).not.toMatch(ID_OUTPUT);
    }
  });

  it('is refused from outside its from= range', async () => {
    const { repoUrl } = await setUp('192.0.2.0/24');
    const listed = await (maintainer as BorgClient).run(['list', repoUrl]);
    expect(listed.exitCode).not.toBe(0);
    expect(listed.stderr).toMatch(/Permission denied|Connection closed/);
    // The VM's own key still works.
    expect(await (vm as BorgClient).run(['list', repoUrl])).toMatchObject({ exitCode: 0 });
  });

  it('is not registered without a from= range', async () => {
    const missing = await admin('POST', '/v1/admin/maintainers', { name: 'trusted', publicKey: (maintainer as BorgClient).publicKey });
    expect(missing.status).toBe(400);
    const empty = await admin('POST', '/v1/admin/maintainers', {
      name: 'trusted',
      publicKey: (maintainer as BorgClient).publicKey,
      allowFrom: '',
    });
    expect(empty.status).toBe(400);
    expect((await admin('GET', '/v1/admin/maintainers')).body).toEqual({ maintainers: [] });
  });

  it('ends its open sessions when revoked, and is refused afterwards', async () => {
    const { repoUrl } = await setUp();
    const { sandbox } = server as ServerSandbox;
    const uid = await hostUid(server as ServerSandbox, 'db1');
    const trusted = maintainer as BorgClient;
    const { session } = await openBorgServeSession(uid, () => openSsh(trusted, { user: 'db1', port: sandbox.sshPort }));
    try {
      const revoked = await admin('POST', '/v1/admin/maintainers/trusted/revoke', { hosts: ['db1'] });
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      expect(revoked.body).toMatchObject({ hosts: [] });
      await session.exited;
      const listed = await trusted.run(['list', repoUrl]);
      expect(listed.exitCode).not.toBe(0);
      expect(await (vm as BorgClient).run(['list', repoUrl])).toMatchObject({ exitCode: 0 });
    } finally {
      await session.close();
    }
  });
});
