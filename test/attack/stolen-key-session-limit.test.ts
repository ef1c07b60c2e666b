import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { hostUid, useAttackServer } from '../support/attack-server.js';
import { openBorgServeSession, openSsh, processesOfUid, type SshSession } from '../support/attack-ssh.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient, type SshDestination } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A stolen key opening many idle sessions (each borg serve holds about
 * 30 MB): the server ends the newest beyond the host's cap (2 unless set),
 * and leaves the sessions within it alone. The flood comes from an address of
 * its own (ssh -b), so that sshd's per-address limit on unauthenticated
 * connections is not what stops it.
 */

const FLOOD_ADDRESS = '127.0.0.7';

describe('a stolen key opening many sessions', () => {
  const server = useAttackServer();
  let client: BorgClient | undefined;
  let repoUrl = '';
  let uid = 0;
  const sessions: SshSession[] = [];

  const web1 = (): SshDestination => ({ user: 'web1', port: server().sandbox.sshPort });
  const borg = () => client as BorgClient;

  beforeAll(async () => {
    client = await createBorgClient('web1');
    repoUrl = (await enrollAndApprove(server().api, client, 'web1')).repoUrl;
    uid = await hostUid(server(), 'web1');
    expect(await client.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
  });

  afterAll(async () => {
    for (const session of sessions) await session.close();
    await client?.remove();
  });

  /** An ssh session whose borg serve (the forced command) waits on its open stdin. */
  function idleSession(): SshSession {
    const opened = openSsh(borg(), web1(), { sshOptions: ['-b', FLOOD_ADDRESS] });
    sessions.push(opened);
    return opened;
  }

  async function servedSession(): Promise<{ session: SshSession; servePid: number }> {
    const { session, serve } = await openBorgServeSession(uid, idleSession);
    return { session, servePid: serve.pid };
  }

  const isAlive = async (pid: number) => (await processesOfUid(uid)).some((info) => info.pid === pid);
  const allExited = (opened: SshSession[]) => (opened.every((session) => session.hasExited()) ? true : undefined);
  const parentPidOf = async (pid: number) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };

  /** borg serve and its ancestors that run as the host (sshd's child for the connection): the session on the server. */
  async function sessionPids(servePid: number): Promise<number[]> {
    const ofUid = new Set((await processesOfUid(uid)).map((info) => info.pid));
    const pids = [servePid];
    for (let parent = await parentPidOf(servePid); ofUid.has(parent); parent = await parentPidOf(parent)) pids.push(parent);
    return pids;
  }

  /** Closes the session and waits until the server's side of it is gone too. */
  async function closeFully({ session, servePid }: { session: SshSession; servePid: number }): Promise<void> {
    const pids = await sessionPids(servePid);
    await session.close();
    await waitFor('the closed session to end on the server', async () => {
      const alive = new Set((await processesOfUid(uid)).map((info) => info.pid));
      return pids.some((pid) => alive.has(pid)) ? undefined : true;
    });
  }

  /** After each attack, pass or fail: no session of web1 left, so the next attack starts from none. */
  async function closeEverySession(): Promise<void> {
    for (const session of sessions) await session.close();
    await waitFor('every session of web1 to end on the server', async () => ((await processesOfUid(uid)).length === 0 ? true : undefined));
  }

  async function setMaxSessions(maxSessions: number): Promise<void> {
    const response = await server().api.request('PATCH', '/v1/admin/hosts/web1', {
      bearer: server().api.adminToken,
      body: { maxSessions },
    });
    expect(response.status).toBe(200);
    expect(response.body.maxSessions).toBe(maxSessions);
  }

  describe('the per-host session cap', () => {
    const group = 'stolen key: sessions';

    afterEach(closeEverySession);

    attack(group, 'hold 10 borg serve sessions open at once with one key (cap 2)', async () => {
      const within = [await servedSession(), await servedSession()];
      const flood = Array.from({ length: 8 }, () => idleSession());
      await waitFor('the server to end the 8 sessions beyond the cap', () => allExited(flood));
      for (const { session, servePid } of within) {
        expect(session.hasExited()).toBe(false);
        expect(await isAlive(servePid)).toBe(true);
      }
      // Every borg serve left (the forced command's shell and borg itself) belongs to those two.
      const kept = new Set((await Promise.all(within.map(({ servePid }) => sessionPids(servePid)))).flat());
      const serving = (await processesOfUid(uid)).filter((info) => info.commandLine.includes('borg serve'));
      for (const info of serving) expect(kept.has(info.pid) || kept.has(await parentPidOf(info.pid)), info.commandLine).toBe(true);

      // Within the cap, borg works: with one of the two closed, a real `borg list` is the second session.
      if (within[1]) await closeFully(within[1]);
      expect(await borg().run(['list', repoUrl])).toMatchObject({ exitCode: 0 });
      expect(within[0]?.session.hasExited()).toBe(false);

      // Root records the entry and reports it to the API on its own time: wait for the entry itself.
      const entry = await waitFor("the audit entry of the cap's ending sessions", async () => {
        const audit = await server().api.request<{ entries: { action: string; target: string; details: Record<string, unknown> }[] }>(
          'GET',
          '/v1/admin/audit',
          { bearer: server().api.adminToken },
        );
        return audit.body.entries.find((candidate) => candidate.action === 'host.sessions.limit' && candidate.target === 'web1');
      });
      expect(entry.details).toMatchObject({ maxSessions: 2 });
      if (within[0]) await closeFully(within[0]);
      return `8 of 10 sessions ended by the server (audit host.sessions.limit: ${JSON.stringify(entry?.details)}); the 2 oldest kept serving, and borg list worked within the cap`;
    });

    attack(group, 'a raised cap (borgctl hosts set --max-sessions 4) holds 4 sessions and still ends a fifth', async () => {
      const set = await server().sandbox.borgctl(['hosts', 'set', 'web1', '--max-sessions', '4']);
      expect(set.exitCode).toBe(0);
      const shown = await server().api.request('GET', '/v1/admin/hosts/web1', { bearer: server().api.adminToken });
      expect(shown.body.maxSessions).toBe(4);
      const within = [await servedSession(), await servedSession(), await servedSession(), await servedSession()];
      const fifth = idleSession();
      // The look that ended the fifth saw the four before it: they were left alone.
      await waitFor('the server to end the fifth session', () => allExited([fifth]));
      for (const { session, servePid } of within) {
        expect(session.hasExited()).toBe(false);
        expect(await isAlive(servePid)).toBe(true);
      }
      for (const opened of within) await closeFully(opened);
      await setMaxSessions(2);
      return '4 sessions kept with --max-sessions 4, the fifth ended; PATCH maxSessions 2 set it back';
    });
  });
});
