import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { openSsh } from '../support/attack-ssh.js';
import { waitForRootLoopPasses } from '../support/root-liveness.js';
import { SANDBOX_API_USER, SANDBOX_BACKUP_DIR, SANDBOX_STATE_DIR, type SandboxProcess } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The unprivileged API process taken over: it owns the state volume's db/
 * (its database and signing key) and can write anything there, and it can
 * ask root anything on the API's socket. Root must neither follow a link it
 * plants nor act on a row it forged, and what it asks root is checked
 * against root's own state.
 */

const DATABASE = `${SANDBOX_STATE_DIR}/db/borg.db`;
const SIGNING_KEY = `${SANDBOX_STATE_DIR}/db/signing/enrollment-signing-key.jwk`;
/** An account in the host UID range that the server did not make: on a bare host, an admin's own login. */
const FOREIGN_UID = 54_321;
const FOREIGN_NAME = 'alice';
const ATTACKER = fileURLToPath(new URL('../fixtures/attack/root-channel-attacker.mjs', import.meta.url));
const API_SOCKET = `${SANDBOX_STATE_DIR}/run/api/api.sock`;

describe('the API user taken over, against root', () => {
  const server = useAttackServer();
  const group = 'compromised API user';
  let client: BorgClient;
  let reconciles = 0;

  const sandbox = () => server().sandbox;
  /** A command run as the API user, as its taken-over process could. */
  const asApiUser = (command: string[]) =>
    sandbox().exec(['setpriv', `--reuid=${SANDBOX_API_USER}`, `--regid=${SANDBOX_API_USER}`, '--clear-groups', '--', ...command], {
      reject: false,
    });
  const sql = async (statement: string) => {
    const result = await asApiUser(['sqlite3', '-cmd', '.timeout 10000', DATABASE, statement]);
    expect(result.exitCode, result.stderr).toBe(0);
  };
  /** Any admin change makes the server reconcile every row. */
  const reconcile = async () => {
    reconciles += 1;
    await sandbox().borgctl(['hosts', 'set', 'db1', '--quota', `${100 + reconciles}M`]);
  };
  const forgeHost = (name: string, uid: number, status: string) => {
    const [keyType, keyBase64] = client.publicKey.split(' ');
    return sql(
      `insert into hosts (name, uid, key_type, key_base64, fingerprint, append_only, status, origin, created_at, updated_at) values (${name}, ${uid}, '${keyType}', '${keyBase64}', 'SHA256:forged', 1, '${status}', 'enrollment', 0, 0)`,
    );
  };
  /** Requests sent as the API user on the API's socket, each waiting for root's reply. */
  const askRootAsApiUser = async (requests: Record<string, unknown>[]) => {
    const result = await asApiUser([process.execPath, ATTACKER, 'requests', API_SOCKET, JSON.stringify(requests)]);
    expect(result.exitCode, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as { answers: ({ result?: Record<string, unknown>; error?: { code: string } } | null)[] }).answers;
  };
  /** The host rows root serves, from root's own database. */
  const rootHosts = async () =>
    (await sandbox().exec(['sqlite3', `${SANDBOX_STATE_DIR}/root/root.db`, 'select name from hosts order by name'])).stdout;

  beforeAll(async () => {
    client = await createBorgClient('db1');
    await enrollAndApprove(server().api, client, 'db1');
  });

  afterAll(async () => {
    await client?.remove();
  });

  attack(group, "point the signing key at a root-only file with a symlink, for root's borgctl to chown to the API user", async () => {
    // A root-only file holding a key: what root's borgctl would read, then hand over.
    await sandbox().exec(['cp', SIGNING_KEY, '/etc/precious.jwk']);
    await sandbox().exec(['chmod', '0600', '/etc/precious.jwk']);
    expect((await asApiUser(['ln', '-sf', '/etc/precious.jwk', SIGNING_KEY])).exitCode).toBe(0);
    try {
      const result = await sandbox().borgctl(['token', 'create'], { reject: false });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('symbolic link');
      const owner = (await sandbox().exec(['stat', '-c', '%U:%G %a', '/etc/precious.jwk'])).stdout.trim();
      expect(owner).toBe('root:root 600');
      return `borgctl token create refused (${result.stderr.trim().split('\n')[0]}); /etc/precious.jwk stays ${owner}`;
    } finally {
      await sandbox().exec(['rm', '-f', SIGNING_KEY]);
      await sandbox().exec(['cp', '/etc/precious.jwk', SIGNING_KEY]);
      await sandbox().exec(['chown', `${SANDBOX_API_USER}:${SANDBOX_API_USER}`, SIGNING_KEY]);
    }
  });

  attack(group, 'forge a purging host row named ../NAME, for root to delete a directory outside the backups', async () => {
    await sandbox().exec(['mkdir', '-p', '/srv/outside']);
    await sandbox().writeFile('/srv/outside/precious', 'not a backup\n');
    await forgeHost("'../outside'", 20_555, 'purging');
    try {
      await reconcile();
      expect(await sandbox().readFile('/srv/outside/precious')).toBe('not a backup\n');
      expect(await rootHosts()).not.toContain('outside');
      return "/srv/outside kept; the forged row never reached root's own database";
    } finally {
      await sql("delete from hosts where name = '../outside'");
    }
  });

  attack(group, 'forge a host row whose name carries a passwd line with UID 0', async () => {
    await forgeHost("'x' || char(10) || 'root2:x:0:0::/root:/bin/sh'", 20_556, 'active');
    try {
      await reconcile();
      const passwd = await sandbox().readFile('/etc/passwd');
      expect(passwd).not.toContain('root2');
      expect(await rootHosts()).not.toContain('root2');
      return "no root2 line in /etc/passwd; the forged row never reached root's own database";
    } finally {
      await sql('delete from hosts where uid = 20556');
    }
  });

  attack(group, "forge a host row with UID 0 and the thief's key, to log in as root or have root's processes ended", async () => {
    await forgeHost("'thief'", 0, 'active');
    try {
      await reconcile();
      expect(await sandbox().readFile('/etc/passwd')).not.toMatch(/^thief:/m);
      const login = openSsh(client, { user: 'thief', port: sandbox().sshPort });
      await login.exited;
      expect(login.output()).toMatch(/Permission denied|Connection closed|Invalid user/i);
      expect(sandbox().server?.hasExited(), 'borgctl serve was ended').toBe(false);
      return 'no account for thief; its login was refused; borgctl serve still runs';
    } finally {
      await sql("delete from hosts where name = 'thief'");
    }
  });

  /**
   * An account in the host UID range the server did not make (on a bare host, an admin's own login), with two
   * processes (two sessions, to a cap of 1) and a directory of its own under the backups, for the time of `run`.
   */
  async function withForeignAccount(run: (foreign: { home: string; areAlive(): Promise<boolean> }) => Promise<string>): Promise<string> {
    const home = `${SANDBOX_BACKUP_DIR}/${FOREIGN_NAME}`;
    await sandbox().exec(['useradd', '--uid', String(FOREIGN_UID), '--user-group', '--no-create-home', '--home-dir', home, FOREIGN_NAME]);
    await sandbox().exec(['mkdir', '-m', '0700', home]);
    await sandbox().writeFile(`${home}/precious`, 'not a backup\n', { mode: '0600', owner: `${FOREIGN_NAME}:${FOREIGN_NAME}` });
    await sandbox().exec(['chown', `${FOREIGN_NAME}:${FOREIGN_NAME}`, home]);
    const asForeign = ['setpriv', `--reuid=${FOREIGN_UID}`, `--regid=${FOREIGN_UID}`, '--clear-groups', '--'];
    const processes: SandboxProcess[] = [sandbox().spawn([...asForeign, 'sleep', '600']), sandbox().spawn([...asForeign, 'sleep', '600'])];
    const runsAsForeign = async (process_: SandboxProcess) =>
      !process_.hasExited() && (await readFile(`/proc/${process_.pid}/status`, 'utf8').catch(() => '')).includes(`Uid:\t${FOREIGN_UID}\t`);
    const areAlive = async () => (await Promise.all(processes.map(runsAsForeign))).every(Boolean);
    try {
      await waitFor('the foreign processes to run', async () => ((await areAlive()) ? true : undefined));
      const evidence = await run({ home, areAlive });
      expect(await sandbox().readFile(`${home}/precious`)).toBe('not a backup\n');
      expect(await sandbox().readFile('/etc/passwd')).toMatch(new RegExp(`^${FOREIGN_NAME}:x:${FOREIGN_UID}:${FOREIGN_UID}::`, 'm'));
      expect(sandbox().server?.hasExited(), 'borgctl serve was ended').toBe(false);
      return evidence;
    } finally {
      for (const process_ of processes) await process_.stop({ graceMs: 1000 });
      await sql(`delete from hosts where name = '${FOREIGN_NAME}'`);
      await sandbox().exec(['rm', '-rf', home]);
      await sandbox().exec(['userdel', FOREIGN_NAME], { reject: false });
    }
  }

  attack(
    group,
    'forge a host row naming the UID of an account the server did not make, for root to end its processes and delete its files',
    () =>
      withForeignAccount(async ({ home, areAlive }) => {
        await forgeHost(`'${FOREIGN_NAME}'`, FOREIGN_UID, 'active');
        await sql(`update hosts set max_sessions = 1 where name = '${FOREIGN_NAME}'`);
        await reconcile();
        await waitForRootLoopPasses(sandbox(), new Date());
        expect(await areAlive(), 'a process of the foreign UID was ended by the session cap').toBe(true);
        await sql(`update hosts set status = 'purging' where name = '${FOREIGN_NAME}'`);
        await reconcile();
        await waitForRootLoopPasses(sandbox(), new Date());
        expect(await areAlive(), 'a process of the foreign UID was ended by the purge').toBe(true);
        expect(await rootHosts()).not.toContain(FOREIGN_NAME);
        return `both processes of UID ${FOREIGN_UID} (${FOREIGN_NAME}, not the server's) still run after a cap of 1 and a purge; ${home} kept; the forged row never reached root's own database`;
      }),
  );

  attack(
    group,
    "ask root on the API's socket for a host with the UID of an account the server did not make, a session cap of 1, then its purge",
    () =>
      withForeignAccount(async ({ home, areAlive }) => {
        const [keyType, keyBase64] = client.publicKey.split(' ');
        const change = (id: string, body: Record<string, unknown>) => ({
          type: 'host.change',
          id,
          change: { name: FOREIGN_NAME, ...body },
        });
        const [made, capped] = await askRootAsApiUser([
          change('make', {
            action: 'put-key',
            keyType,
            keyBase64,
            appendOnly: true,
            quotaBytes: null,
            allowFrom: null,
            origin: 'enrollment',
            enrollmentId: null,
            uidHint: FOREIGN_UID,
          }),
          change('cap', { action: 'set', fields: { maxSessions: 1 } }),
        ]);
        const uid = (made?.result?.row as { uid?: number } | undefined)?.uid;
        expect(uid, JSON.stringify(made)).toBeDefined();
        expect(uid).not.toBe(FOREIGN_UID);
        expect(capped?.result).toBeDefined();
        await waitForRootLoopPasses(sandbox(), new Date());
        expect(await areAlive(), 'a process of the foreign UID was ended by the session cap').toBe(true);
        const [purged] = await askRootAsApiUser([change('purge', { action: 'delete', purge: true })]);
        expect(purged?.result).toBeDefined();
        await waitForRootLoopPasses(sandbox(), new Date());
        expect(await areAlive(), 'a process of the foreign UID was ended by the purge').toBe(true);
        return `root gave the host UID ${uid}, not ${FOREIGN_UID} (a UID something runs as is not free); both processes of ${FOREIGN_NAME} still run after a cap of 1 and a purge; ${home} kept`;
      }),
  );
});
