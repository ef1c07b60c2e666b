import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  enrollAndApprove,
  LOOPBACK_RECEIVERS_ALLOWED,
  type ServerSandbox,
  startServerSandbox,
  stopServerSandbox,
} from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The real server records every borg session of a host from its own side
 * (the repository watch, borg serve's index) and tells a backup from the rest.
 */

interface SessionView {
  id: number;
  outcome: string;
  clientAddress: string | null;
  transactionsCommitted: number;
  bytesAdded: number;
  objectsAdded: number;
  manifestRewritten: boolean;
  uncommittedLeft: boolean;
  endedBy: string;
}

interface HostMonitoringView {
  backupStatus: string;
  lastBackupAt: string | null;
  lastSessionAt: string | null;
  repositoryBytes: number | null;
}

/** A push monitor on 127.0.0.1 that records the paths it is called on. */
function startPingReceiver() {
  const paths: string[] = [];
  const server: Server = createServer((request, response) => {
    paths.push(request.url ?? '');
    response.writeHead(200).end('OK');
  });
  return new Promise<{ url: string; paths: string[]; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/ping/5bf66975`, paths, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

describe('sessions recorded by the server', () => {
  let server: ServerSandbox | undefined;
  let client: BorgClient | undefined;
  let receiver: Awaited<ReturnType<typeof startPingReceiver>> | undefined;

  beforeEach(async () => {
    receiver = await startPingReceiver();
    server = await startServerSandbox({}, LOOPBACK_RECEIVERS_ALLOWED);
    client = await createBorgClient('web1');
  });

  afterEach(async (context) => {
    await client?.remove();
    await stopServerSandbox(server, context);
    await receiver?.close();
  });

  const sessions = async () => {
    const { api } = server as ServerSandbox;
    return (await api.request<{ sessions: SessionView[] }>('GET', '/v1/admin/hosts/web1/sessions', { bearer: api.adminToken })).body
      .sessions;
  };
  const host = async () => {
    const { api } = server as ServerSandbox;
    return (await api.request<HostMonitoringView>('GET', '/v1/admin/hosts/web1', { bearer: api.adminToken })).body;
  };
  /** Runs a borg command and waits until the server recorded its session; returns that session. */
  const recorded = async (arguments_: string[]) => {
    const before = (await sessions()).length;
    const result = await (client as BorgClient).run(arguments_);
    const session = await waitFor(`the session of borg ${arguments_[0]}`, async () => {
      const now = await sessions();
      return now.length > before ? now[0] : undefined;
    });
    return { result, session: session as SessionView };
  };

  it('tells a backup from a list, a check, a delete and a client killed mid-backup, and pings after each', async () => {
    const { sandbox, api } = server as ServerSandbox;
    const borg = client as BorgClient;
    const ping = receiver as NonNullable<typeof receiver>;
    const { repoUrl } = await enrollAndApprove(api, borg, 'web1');
    expect((await sandbox.borgctl(['hosts', 'set', 'web1', '--ping-url', ping.url])).exitCode).toBe(0);
    expect(await host()).toMatchObject({ backupStatus: 'never', lastBackupAt: null });

    const init = await recorded(['init', '--encryption', 'none', repoUrl]);
    expect(init.result.exitCode).toBe(0);
    expect(init.session).toMatchObject({ outcome: 'changed', clientAddress: '127.0.0.1', manifestRewritten: true });
    expect((await host()).lastBackupAt).toBeNull();

    const created = await recorded(['create', `${repoUrl}::first`, borg.dataDir]);
    expect(created.result.exitCode).toBe(0);
    expect(created.session).toMatchObject({ outcome: 'backup', manifestRewritten: true, uncommittedLeft: false, endedBy: 'client' });
    expect(created.session.transactionsCommitted).toBeGreaterThanOrEqual(1);
    expect(created.session.bytesAdded).toBeGreaterThan(0);
    const afterBackup = await host();
    expect(afterBackup).toMatchObject({ backupStatus: 'ok' });
    expect(afterBackup.lastBackupAt).not.toBeNull();
    expect(afterBackup.repositoryBytes).toBeGreaterThanOrEqual(created.session.bytesAdded);
    await waitFor('the success ping', () => (ping.paths.includes('/ping/5bf66975') ? true : undefined));

    for (const command of [
      ['list', repoUrl],
      ['check', '--repository-only', repoUrl],
    ]) {
      const { result, session } = await recorded(command);
      expect(result.exitCode, command.join(' ')).toBe(0);
      expect(session, command.join(' ')).toMatchObject({ outcome: 'read-only', transactionsCommitted: 0, manifestRewritten: false });
    }

    // Append-only (the default): the delete is recorded, and is no backup.
    const deleted = await recorded(['delete', `${repoUrl}::first`]);
    expect(deleted.result.exitCode).toBe(0);
    expect(deleted.session).toMatchObject({ outcome: 'changed', manifestRewritten: true });
    expect(deleted.session.objectsAdded).toBeLessThan(0);
    expect((await host()).lastBackupAt).toBe(afterBackup.lastBackupAt);

    // A backup slowed to 1 MB/s, its client killed once its data reaches the server.
    const big = join(borg.dir, 'big.bin');
    await writeFile(big, randomBytes(40_000_000));
    const before = (await sessions()).length;
    const segmentsBefore = (await sandbox.listFiles('/srv/backups/web1/repo/data/0')).length;
    const backup = execa('borg', ['create', '--upload-ratelimit', '1000', `${repoUrl}::killed`, big], {
      env: borg.environment,
      extendEnv: false,
      reject: false,
    });
    await waitFor(
      'uncommitted data on the server',
      async () => {
        const files = await sandbox.listFiles('/srv/backups/web1/repo/data/0');
        return files.length > segmentsBefore ? true : undefined;
      },
      60_000,
    );
    backup.kill('SIGKILL');
    await backup;
    const killed = await waitFor('the killed session', async () => {
      const now = await sessions();
      return now.length > before ? now[0] : undefined;
    });
    expect(killed).toMatchObject({ outcome: 'aborted', transactionsCommitted: 0 });
    expect((await host()).lastBackupAt).toBe(afterBackup.lastBackupAt);
    await waitFor('the fail ping', () => (ping.paths.includes('/ping/5bf66975/fail') ? true : undefined));

    // The CLI answers too: a status column and the recent sessions.
    const listed = await sandbox.borgctl(['hosts', 'list']);
    expect(listed.stdout).toMatch(/backupStatus/);
    expect(listed.stdout).toMatch(/web1\s+\d+\s+active\s+ok/);
    const shown = await sandbox.borgctl(['hosts', 'show', 'web1']);
    expect(shown.stdout).toContain('aborted');
    expect(shown.stdout).toContain('backup');
  });
});
