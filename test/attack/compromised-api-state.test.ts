import { readdir, readlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { waitForRootLoopPasses } from '../support/root-liveness.js';
import { SANDBOX_API_USER, SANDBOX_STATE_DIR } from '../support/sandbox.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The API user taken over does everything it can to every file it can
 * write: triggers that never end, views and forged rows in every table of the
 * API's database, other files in its directories. Root opens none of them:
 * it keeps enforcing what it serves from its own database (a quota, an
 * admin's disable through the CLI), and the healthcheck keeps telling the
 * truth about root. Before root had a database of its own, one such trigger
 * froze root for good.
 */

const DATABASE = `${SANDBOX_STATE_DIR}/db/borg.db`;
const PUT_IGNORING_QUOTA = fileURLToPath(new URL('../fixtures/attack/put-ignoring-quota.py', import.meta.url));
/** A statement that never ends: what each planted trigger runs inside whoever writes the table. */
const NEVER_ENDS =
  'select count(*) from (with recursive forever(x) as (select 1 union all select x + 1 from forever) select x from forever)';

describe("the API user's files booby-trapped, against root", () => {
  const server = useAttackServer();
  const group = 'compromised API user';
  let disabled: BorgClient;
  let disabledUrl = '';
  let quoted: BorgClient;
  let quotedUrl = '';

  const sandbox = () => server().sandbox;
  const asApiUser = (command: string[]) =>
    sandbox().exec(['setpriv', `--reuid=${SANDBOX_API_USER}`, `--regid=${SANDBOX_API_USER}`, '--clear-groups', '--', ...command], {
      reject: false,
    });

  beforeAll(async () => {
    disabled = await createBorgClient('trap1');
    ({ repoUrl: disabledUrl } = await enrollAndApprove(server().api, disabled, 'trap1'));
    expect(await disabled.run(['init', '--encryption', 'none', disabledUrl])).toMatchObject({ exitCode: 0 });
    quoted = await createBorgClient('trap2');
    ({ repoUrl: quotedUrl } = await enrollAndApprove(server().api, quoted, 'trap2', { quota: '10M' }));
    expect(await quoted.run(['init', '--encryption', 'none', quotedUrl])).toMatchObject({ exitCode: 0 });
  });

  afterAll(async () => {
    await disabled?.remove();
    await quoted?.remove();
  });

  /** The files the supervisor (`borgctl serve`, root) holds open, by path. */
  async function rootOpenFiles(): Promise<string[]> {
    const pid = sandbox().server?.pid;
    if (pid === undefined) throw new Error('no server');
    const descriptors = await readdir(`/proc/${pid}/fd`);
    const targets = await Promise.all(descriptors.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    return targets.filter((target) => target.startsWith('/'));
  }

  /** What the healthcheck says about root (not about the API, which the traps may well stall). */
  async function rootProblems(): Promise<string[]> {
    const result = await sandbox().borgctl(['healthcheck'], { reject: false });
    return result.stderr.split('\n').filter((line) => /root/i.test(line));
  }

  attack(
    group,
    'plant never-ending triggers, views and forged rows in every table of the API database, and files in its directories',
    async () => {
      const tables = (
        await asApiUser(['sqlite3', DATABASE, "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"])
      ).stdout
        .split('\n')
        .filter(Boolean);
      expect(tables).toContain('hosts');
      const traps = tables.flatMap((table) =>
        ['insert', 'update', 'delete'].map(
          (event) => `create trigger trap_${event}_${table} before ${event} on "${table}" begin ${NEVER_ENDS}; end;`,
        ),
      );
      const planted = await asApiUser([
        'sqlite3',
        '-cmd',
        '.timeout 10000',
        DATABASE,
        // The forged row first: once the traps are set, any write (this one too) never ends.
        [
          "insert into hosts (name, uid, key_type, key_base64, fingerprint, append_only, status, origin, created_at, updated_at) values ('x' || char(10) || 'root2:x:0:0::/root:/bin/sh', 0, 'ssh-ed25519', 'AAAA', 'SHA256:forged', 0, 'active', 'enrollment', 0, 0)",
          `create view trap_view as ${NEVER_ENDS}`,
          ...traps,
        ].join(';\n'),
      ]);
      expect(planted.exitCode, planted.stderr).toBe(0);
      // Its other files: the WAL index and anything it can put beside them.
      expect(
        (await asApiUser(['sh', '-c', `printf 'junk' > ${DATABASE}-shm.planted && ln -sf /etc/shadow ${SANDBOX_STATE_DIR}/db/tls`]))
          .exitCode,
      ).toBe(0);
      // Root runs on: its loops complete passes after the planting (its own report says so; a
      // fixed wait would prove nothing on a busy machine), and it holds no file of the API's open.
      await waitForRootLoopPasses(sandbox(), new Date());
      expect(sandbox().server?.hasExited(), 'borgctl serve was ended').toBe(false);
      const openFiles = await rootOpenFiles();
      expect(openFiles.filter((path) => path.startsWith(`${SANDBOX_STATE_DIR}/db`))).toEqual([]);
      expect(await rootProblems()).toEqual([]);
      expect(await sandbox().readFile('/etc/passwd')).not.toContain('root2');
      return `${traps.length} triggers that never end, a view and a forged row planted; serve runs, holds none of the API's files open (of ${openFiles.length} open files), and the healthcheck finds nothing wrong with root`;
    },
  );

  attack(group, "with the API's database booby-trapped, write past a host's storage quota", async () => {
    const result = await execa('python3', [PUT_IGNORING_QUOTA, quotedUrl, '300'], {
      env: quoted.environment,
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    const output = String(result.stdout);
    expect(output, output).toMatch(/cut off by the server: (ConnectionClosed|BrokenPipeError|ConnectionResetError)/);
    expect(await rootProblems()).toEqual([]);
    return `${output.trim().split('\n').join('; ')}: root's quota watch ended the session`;
  });

  attack(group, "with the API's database booby-trapped, keep using a key the admin disables through the CLI", async () => {
    expect(await disabled.run(['list', disabledUrl])).toMatchObject({ exitCode: 0 });
    const startedAt = Date.now();
    const disabling = await sandbox().borgctl(['hosts', 'disable', 'trap1'], { reject: false, timeoutMs: 60_000 });
    expect(disabling.exitCode, disabling.stderr).toBe(0);
    const refusal = await waitFor(
      'the disabled key to be refused',
      async () => {
        const listing = await disabled.run(['list', disabledUrl]);
        return listing.exitCode === 0 ? undefined : listing;
      },
      15_000,
    );
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    expect(`${refusal.stdout}\n${refusal.stderr}`).toMatch(/Permission denied|Connection closed|Remote: /i);
    expect(await rootProblems()).toEqual([]);
    return `borgctl hosts disable answered at once; the key was refused ${seconds} s after the command; the healthcheck finds nothing wrong with root`;
  });
});
