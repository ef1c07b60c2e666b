import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runEnrollCommand, waitForFingerprint } from '../support/enroll-command.js';
import { canConnect, createSandbox, REPOSITORY_ROOT, type Sandbox, sshdProcessesInSandboxes } from '../support/sandbox.js';
import { type ShellSession, startShellSession } from '../support/shell-session.js';
import { SYSTEM_PATH } from '../support/system-path.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The README's quick start, without a container, run as a newcomer would:
 * the blocks marked `<!-- readme-test: ROLE -->` are read out of README.md and
 * run in order against a real server in a private mount namespace.
 *
 * - `once`: run once, as root, in the namespace (its /etc is the sandbox's).
 * - `every-shell`: the settings line; run first in each shell below.
 * - `serve`: the server's own terminal, left running.
 * - `admin`: one root shell in the namespace, in the checkout, every block in turn
 *   (variables such as $ADMIN_TOKEN and $PIN carry over, as in a terminal).
 * - `vm`: one shell of the VM's, after the two `export` lines the enroll command printed.
 *
 * What this machine needs besides the README, said here and nowhere else:
 * - the README's names become loopback ones: `backup.example.com:8080` is
 *   127.0.0.1 on a free port, SSH's 2222 another free port; the sandbox's state
 *   and backup directories and loopback listen addresses are added to the
 *   settings file after the `once` block (a real machine uses the defaults);
 * - `npm ci && npm run build` is not run: the test run has built the checkout;
 * - the serve block runs under `exec`, so that stopping its terminal stops serve;
 * - step 4, the VM's enroll command, is the `command` the server answered in step
 *   3, run as it is, outside the namespace as a VM is another machine, with a
 *   HOME of its own; the README shows that line with placeholders only;
 * - step 5's `ID` and `SHA256:…` are what the admin reads: the enrollment's id
 *   and the fingerprint the VM printed;
 * - the VM backs up a directory of its own for `/etc /home`, and restores a file
 *   of it for `etc/hostname`; borg's passphrase prompt gets BORG_PASSPHRASE.
 */

const SETTINGS_FILE = '/etc/default/secure-borg-server';
const ROLES = ['once', 'every-shell', 'serve', 'admin', 'admin', 'admin', 'vm', 'vm'];
const NODE_DIRECTORY = join(process.execPath, '..');

interface Block {
  role: string;
  lines: string;
}

/** Every fenced block that follows a `<!-- readme-test: ROLE -->` line, in the README's order. */
async function readmeBlocks(): Promise<Block[]> {
  const readme = await readFile(join(REPOSITORY_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^<!-- readme-test: ([a-z-]+) -->\n```sh\n([\s\S]*?)\n```$/gm)].map((match) => ({
    role: match[1] as string,
    lines: match[2] as string,
  }));
}

/** Replaces each `from` with its `to`, and fails when the README no longer has one of them. */
function substitute(lines: string, replacements: [string, string][]): string {
  let result = lines;
  for (const [from, to] of replacements) {
    expect(result, `the README's block no longer holds ${from}`).toContain(from);
    result = result.replaceAll(from, to);
  }
  return result;
}

let sandbox: Sandbox | undefined;
const shells: ShellSession[] = [];
const temporaryDirectories: string[] = [];

afterEach(async (context) => {
  for (const shell of shells.splice(0)) await shell.close();
  const serverOutput = sandbox?.server?.output() ?? '';
  const report = await sandbox?.stop();
  sandbox = undefined;
  for (const directory of temporaryDirectories.splice(0)) await rm(directory, { recursive: true, force: true });
  if (context.task.result?.state === 'fail') console.log(`--- the serve terminal ---\n${serverOutput}--- end ---`);
  if (report && report.leftoverProcesses.length > 0) {
    throw new Error(`the quick start left processes behind: ${JSON.stringify(report.leftoverProcesses)}`);
  }
  const sshd = await sshdProcessesInSandboxes();
  if (sshd.length > 0) throw new Error(`sshd outlived its sandbox: ${JSON.stringify(sshd)}`);
});

describe("the README's quick start without a container", () => {
  it('starts the server, mints, enrolls, approves, backs up and restores with the commands as written', async () => {
    const blocks = await readmeBlocks();
    expect(blocks.map((block) => block.role)).toEqual(ROLES);
    const [once, everyShell, serve, adminToken, mint, approve, backUp, restore] = blocks as Block[] as [
      Block,
      Block,
      Block,
      Block,
      Block,
      Block,
      Block,
      Block,
    ];

    // The README's useradd makes the API user.
    sandbox = await createSandbox({ createApiUser: false });
    const { sshPort, httpPort } = sandbox;
    const publicUrl = `https://127.0.0.1:${httpPort}`;
    const names: [string, string][] = [['https://backup.example.com:8080', publicUrl]];
    // Directories no one can create, even root: should the README's settings line stop setting them, serve and
    // borgctl fail here instead of writing to this machine's /var/lib/secure-borg-server or /backups.
    const notRead = '/proc/the-readme-settings-were-not-read';
    const shellEnvironment = {
      PATH: `${SYSTEM_PATH}:${NODE_DIRECTORY}`,
      LANG: 'C.UTF-8',
      HOME: '/root',
      BORG_SERVER_STATE_DIR: `${notRead}/state`,
      BORG_SERVER_BACKUP_DIR: `${notRead}/backups`,
    };
    const inNamespace = ['nsenter', '--mount', `--target=${sandbox.keeperPid}`, '--'];

    // Step 1: once, then this sandbox's directories and addresses, then the server's terminal.
    await sandbox.exec(
      ['bash', '-e', '-c', substitute(once.lines, [...names, ['BORG_SERVER_SSH_PORT=2222', `BORG_SERVER_SSH_PORT=${sshPort}`]])],
      {
        env: shellEnvironment,
      },
    );
    const settings = await sandbox.readFile(SETTINGS_FILE);
    expect(settings).toBe(`BORG_SERVER_PUBLIC_URL=${publicUrl}\nBORG_SERVER_SSH_PORT=${sshPort}\n`);
    await sandbox.writeFile(
      SETTINGS_FILE,
      `${settings}BORG_SERVER_STATE_DIR=${sandbox.stateDir}\nBORG_SERVER_BACKUP_DIR=${sandbox.backupDir}\n` +
        `BORG_SERVER_HTTP_HOST=127.0.0.1\nBORG_SERVER_HTTP_PORT=${httpPort}\nBORG_SERVER_SSH_LISTEN_ADDRESS=127.0.0.1\n`,
    );
    // `exec`, so that stopping this terminal stops serve itself, whose exit status is then checked.
    const server = sandbox.spawn(['bash', '-c', `cd '${REPOSITORY_ROOT}'\n${everyShell.lines}\nexec ${serve.lines}`], {
      env: shellEnvironment,
    });
    await waitFor(
      () => `the server to listen on ${httpPort} and ${sshPort}; it printed:\n${server.output()}`,
      async () => {
        if (server.hasExited()) throw new Error(`serve ended:\n${server.output()}`);
        return (await canConnect(httpPort)) && (await canConnect(sshPort)) ? true : undefined;
      },
      120_000,
    );

    // Step 2 and 3 in the admin's shell: the admin token and pin kept in variables, then the mint.
    const admin = startShellSession([...inNamespace], { env: shellEnvironment, cwd: REPOSITORY_ROOT });
    shells.push(admin);
    // nsenter starts the shell in /: the admin's terminal is in the checkout, as the quick start says.
    await admin.run(`cd '${REPOSITORY_ROOT}'`);
    await admin.run(everyShell.lines);
    await admin.run(adminToken.lines);
    expect(await admin.run('printf "%s\\n" "$PIN"')).toMatch(/^sha256\/\/[A-Za-z0-9+/]{43}=$/);
    expect(await admin.run('printf "%s\\n" "$ADMIN_TOKEN"')).toMatch(/^\S{40,}$/);
    const answer = JSON.parse(await admin.run(substitute(mint.lines, names))) as { token: string; command: string };
    expect(answer.command).toContain(`-fsS ${publicUrl}/enroll.sh)`);

    // Step 4: the VM runs the command it was handed.
    const vmDirectory = await mkdtemp(join(tmpdir(), 'readme-vm-'));
    temporaryDirectories.push(vmDirectory);
    const vmHome = join(vmDirectory, 'home');
    const data = join(vmDirectory, 'data');
    await mkdir(vmHome, { mode: 0o700 });
    await mkdir(data);
    await writeFile(join(data, 'hello.txt'), 'hello from the quick start\n');
    const script = runEnrollCommand(answer.command, vmHome);
    const fingerprint = await waitForFingerprint(script);

    // Step 5: the admin reads the id and the fingerprint off the list, and approves.
    const pending = JSON.parse((await sandbox.borgctl(['enrollments', 'list', '--status', 'pending', '--json'])).stdout) as {
      id: string;
      hostname: string;
    }[];
    expect(pending).toEqual([expect.objectContaining({ hostname: 'web1' })]);
    const enrollmentId = pending[0]?.id as string;
    const approved = await admin.run(
      substitute(approve.lines, [
        [' ID ', ` ${enrollmentId} `],
        ['SHA256:…', fingerprint],
      ]),
    );
    expect(approved).toContain(enrollmentId);
    expect(approved).toContain(fingerprint);

    const finished = await script.subprocess;
    expect(finished.exitCode, script.stderr()).toBe(0);
    const exports = String(finished.stdout)
      .split('\n')
      .filter((line) => /^export BORG_(REPO|RSH)='/.test(line));
    expect(exports).toHaveLength(2);
    expect(exports[0]).toBe(`export BORG_REPO='ssh://web1@127.0.0.1:${sshPort}/./repo'`);

    // Steps 6 and 7 in the VM's shell, after the two lines it printed.
    const vm = startShellSession([], {
      env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: vmHome, BORG_PASSPHRASE: 'a passphrase the owner typed' },
      cwd: vmHome,
    });
    shells.push(vm);
    await vm.run(exports.join('\n'));
    await vm.run(substitute(backUp.lines, [['/etc /home', data]]));
    const restored = await vm.run(substitute(restore.lines, [['etc/hostname', `${data.slice(1)}/hello.txt`]]));
    // `borg list` showed the archive `{hostname}-{now}` made.
    expect(restored).toMatch(/^\S+-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2} /m);
    expect(await readFile(join(vmHome, 'restored', data.slice(1), 'hello.txt'), 'utf8')).toBe('hello from the quick start\n');

    await server.stop();
    expect(await server.exited).toMatchObject({ exitCode: 0 });
  }, 600_000);
});
