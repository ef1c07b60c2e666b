import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BORGCTL_PATH } from '../support/sandbox.js';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The server's own repository checks with the real `borgctl serve`, sshd and
 * borg 1.2.4: `borg check --repository-only` as the host, a corrupted segment
 * found, and a backup that arrives during a check gets the lock.
 */

interface CheckRow {
  id: number;
  hostName: string;
  outcome: string | null;
  detail: string | null;
}

const HOST = 'web1';

describe("the server's repository checks", () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;

  beforeEach(async () => {
    server = await startServerSandbox();
    client = await createBorgClient(HOST);
    await client.trustServer(server.sandbox.baseUrl);
    const { sandbox } = server;
    await sandbox.borgctl(['createuser', HOST, client.publicKey]);
    // Only the checks the tests ask for: none on the schedule.
    await sandbox.borgctl(['hosts', 'set', HOST, '--check-every', 'none']);
    expect(await client.run(['init', '--encryption', 'none', repoUrl()])).toMatchObject({ exitCode: 0 });
    expect(await client.run(['create', `${repoUrl()}::first`, client.dataDir])).toMatchObject({ exitCode: 0 });
  });

  afterEach(async (context) => {
    await client?.remove();
    await stopServerSandbox(server, context);
  });

  const repoUrl = () => `ssh://${HOST}@127.0.0.1:${(server as ServerSandbox).sandbox.sshPort}/./repo`;
  const repository = () => `${(server as ServerSandbox).sandbox.backupDir}/${HOST}/repo`;

  async function hostUid(): Promise<number> {
    const hosts = JSON.parse((await (server as ServerSandbox).sandbox.borgctl(['hosts', 'show', HOST, '--json'])).stdout) as {
      uid: number;
    }[];
    return hosts[0]?.uid ?? -1;
  }

  /** The repository's segment files as [number, size], from borg's data/0 directory. */
  async function segments(): Promise<{ path: string; size: number }[]> {
    const { sandbox } = server as ServerSandbox;
    const listed = await sandbox.exec(['find', `${repository()}/data`, '-type', 'f', '-printf', '%p %s\n']);
    return listed.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [path = '', size = '0'] = line.split(' ');
        return { path, size: Number(size) };
      });
  }

  it('finds a real repository ok; borg ran as the host (what it rewrote is the host’s)', async () => {
    const { sandbox } = server as ServerSandbox;
    // borg writes the repository config anew as it checks (a new file, renamed into place).
    const before = await sandbox.exec(['stat', '-c', '%i', `${repository()}/config`]);
    const checked = await sandbox.borgctl(['hosts', 'check', HOST, '--json']);
    expect(JSON.parse(checked.stdout)).toEqual([expect.objectContaining({ hostName: HOST, outcome: 'ok', detail: null })]);
    const after = await sandbox.exec(['stat', '-c', '%i %u', `${repository()}/config`]);
    const [inode, owner] = after.stdout.trim().split(' ');
    expect(inode).not.toBe(before.stdout.trim());
    expect(Number(owner)).toBe(await hostUid());
    // Nothing in the repository is root's.
    expect((await sandbox.exec(['find', repository(), '-not', '-uid', String(await hostUid())])).stdout).toBe('');
    const scratch = await sandbox.exec(['stat', '-c', '%u %a', `${sandbox.stateDir}/checks/${HOST}`]);
    expect(scratch.stdout.trim()).toBe(`${await hostUid()} 700`);
    const listed = JSON.parse((await sandbox.borgctl(['hosts', 'checks', HOST, '--json'])).stdout) as CheckRow[];
    expect(listed).toEqual([expect.objectContaining({ outcome: 'ok' })]);
  });

  it('queues a check from the API (the unprivileged API asks the root side) and runs it', async () => {
    const { api } = server as ServerSandbox;
    const queued = await api.request('POST', `/v1/admin/hosts/${HOST}/checks`, { bearer: api.adminToken });
    expect(queued.status).toBe(202);
    const checks = await waitFor('the queued check', async () => {
      const listed = await api.request<{ checks: CheckRow[] }>('GET', `/v1/admin/hosts/${HOST}/checks`, { bearer: api.adminToken });
      return listed.body.checks.some((check) => check.outcome !== null) ? listed.body.checks : undefined;
    });
    expect(checks).toEqual([expect.objectContaining({ hostName: HOST, outcome: 'ok' })]);
  });

  it('checks in the command itself when no server runs', async () => {
    const { sandbox } = server as ServerSandbox;
    await sandbox.server?.stop();
    const checked = await sandbox.borgctl(['hosts', 'check', HOST, '--json']);
    expect(JSON.parse(checked.stdout)).toEqual([expect.objectContaining({ hostName: HOST, outcome: 'ok' })]);
  });

  it('does not check a host whose VM has not run borg init yet: the CLI and the API say so, and no check is recorded', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const newcomer = await createBorgClient('new1');
    try {
      await sandbox.borgctl(['createuser', 'new1', newcomer.publicKey]);
      const checked = await sandbox.borgctl(['hosts', 'check', 'new1', '--json'], { reject: false });
      expect(checked.exitCode).not.toBe(0);
      expect(checked.stderr).toMatch(/no repository yet: its VM has not run borg init/);
      const queued = await api.request('POST', '/v1/admin/hosts/new1/checks', { bearer: api.adminToken });
      expect(queued).toEqual({ status: 409, body: { error: 'NO_REPOSITORY_YET', message: expect.stringContaining('borg init') } });
      const listed = await api.request<{ checks: CheckRow[] }>('GET', '/v1/admin/hosts/new1/checks', { bearer: api.adminToken });
      expect(listed.body.checks).toEqual([]);
    } finally {
      await newcomer.remove();
    }
  });

  it('finds a corrupted segment: the check failed and a host.check.failed delivery is queued', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const webhook = await api.request<{ id: string }>('POST', '/v1/admin/webhooks', {
      body: { url: 'http://127.0.0.1:9/borg-events', events: ['host.check.failed'] },
      bearer: api.adminToken,
    });
    expect(webhook.status).toBe(201);
    // The biggest segment holds the archive's chunks: flip bytes in the middle of it, as root, in place.
    const [biggest] = (await segments()).sort((a, b) => b.size - a.size);
    await sandbox.exec([
      'python3',
      '-c',
      'import sys\nf=open(sys.argv[1],"r+b")\nf.seek(int(sys.argv[2]))\nb=f.read(16)\nf.seek(int(sys.argv[2]))\nf.write(bytes(x^255 for x in b))',
      biggest?.path ?? '',
      String(Math.floor((biggest?.size ?? 0) / 2)),
    ]);
    const checked = await sandbox.borgctl(['hosts', 'check', HOST, '--json'], { reject: false });
    expect(checked.exitCode).toBe(1);
    const [row] = JSON.parse(checked.stdout) as CheckRow[];
    expect(row).toMatchObject({ outcome: 'failed', detail: expect.stringContaining('integrity error') });
    // Root reports the failed check to the API, which queues the delivery: a moment after the check.
    const deliveries = await waitFor('the host.check.failed delivery', async () => {
      const listed = await api.request<{ deliveries: { eventType: string }[] }>('GET', `/v1/admin/webhooks/${webhook.body.id}/deliveries`, {
        bearer: api.adminToken,
      });
      return listed.body.deliveries.length > 0 ? listed.body.deliveries : undefined;
    });
    expect(deliveries).toEqual([expect.objectContaining({ eventType: 'host.check.failed' })]);
  });

  it('ends a check as interrupted when a backup of the host starts, and the backup succeeds', async () => {
    const { sandbox } = server as ServerSandbox;
    const uid = await hostUid();
    // A committed segment that holds only a commit tag, made a FIFO: borg check waits at it
    // (a long check, without a big repository); no backup reads it.
    const commitOnly = (await segments()).filter((segment) => segment.size === 17).sort((a, b) => a.path.localeCompare(b.path))[0];
    expect(commitOnly).toBeDefined();
    const fifo = commitOnly?.path ?? '';
    await sandbox.exec(['rm', fifo]);
    await sandbox.exec(['mkfifo', '-m', '600', fifo]);
    await sandbox.exec(['chown', `${uid}:${uid}`, fifo]);

    // One session allowed: the check is no session of the host, so the cap never ends the backup for it.
    await sandbox.borgctl(['hosts', 'set', HOST, '--max-sessions', '1']);
    const check = sandbox.spawn([process.execPath, BORGCTL_PATH, 'hosts', 'check', HOST, '--json'], { env: sandbox.serverEnvironment });
    const borgCheck = await waitFor('borg check running', async () =>
      (await sandbox.processesInside()).find((process_) => process_.commandLine.includes('check --repository-only')),
    );
    // It runs as the host's UID, not root.
    const status = readFileSync(`/proc/${borgCheck.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(uid));

    const backup = await client?.run(['create', `${repoUrl()}::second`, (client as BorgClient).dataDir]);
    expect(backup).toMatchObject({ exitCode: 0 });
    await check.exited;
    // 'exit' can come before this process has read the last of its output from the pipe: wait for
    // the whole JSON answer itself.
    const outcomes = await waitFor(
      () => `the JSON answer of borgctl hosts check; it printed:\n${check.output()}`,
      () => {
        const output = check.output();
        try {
          return JSON.parse(output.slice(output.indexOf('['))) as unknown;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    expect(outcomes).toEqual([expect.objectContaining({ outcome: 'interrupted', detail: 'ended: a backup session of the host began' })]);
    expect((await client?.run(['list', '--short', repoUrl()]))?.stdout).toBe('first\nsecond\n');
  });
});
