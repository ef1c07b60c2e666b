import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { waitFor } from '../support/wait-for.js';

/** The sandbox itself: what happens inside stays inside, and stop() leaves nothing behind. */

describe('the system test sandbox', () => {
  let sandbox: Sandbox | undefined;

  beforeEach(async () => {
    sandbox = await createSandbox();
  });

  afterEach(async () => {
    await sandbox?.stop();
  });

  it('keeps users made with useradd inside the sandbox', async () => {
    const inside = sandbox as Sandbox;
    await inside.exec(['useradd', '--no-create-home', '--home-dir', '/srv/backups/probe1', '--shell', '/bin/sh', 'probe1']);
    expect((await inside.exec(['getent', 'passwd', 'probe1'])).stdout).toContain('probe1:x:');
    expect((await inside.exec(['getent', 'passwd', 'borg-api'])).stdout).toContain(':/usr/sbin/nologin');
    const hostPasswd = await readFile('/etc/passwd', 'utf8');
    expect(hostPasswd.split('\n').filter((line) => line.startsWith('probe1:') || line.startsWith('borg-api:'))).toEqual([]);
  });

  it('keeps /srv and /run private to the sandbox', async () => {
    const inside = sandbox as Sandbox;
    await inside.writeFile('/srv/state/marker', 'inside\n');
    expect(await inside.readFile('/srv/state/marker')).toBe('inside\n');
    expect(existsSync('/srv/state/marker')).toBe(false);
    expect((await inside.exec(['stat', '-c', '%U:%G %a', '/srv/state', '/srv/backups'])).stdout).toBe('root:root 755\nroot:root 755\n');
    await inside.exec(['mkdir', '/run/probe1']);
    expect(existsSync('/run/probe1')).toBe(false);
  });

  it('stops what it started, even a process that ignores SIGTERM', async () => {
    const inside = sandbox as Sandbox;
    const stubborn = inside.spawn(['sh', '-c', 'trap "" TERM; echo started; while :; do sleep 1; done']);
    await waitFor('the stubborn shell to start', () => (stubborn.output().includes('started') ? true : undefined));
    const exit = await stubborn.stop({ graceMs: 500 });
    expect(exit).toMatchObject({ wasKilled: true, signal: 'SIGKILL' });
    // The shell's own child (its `sleep 1`) got the SIGKILL too; it dies once the kernel runs it,
    // which on a busy machine may be a moment after the shell was seen to end.
    let left = await inside.processesInside();
    await waitFor(
      () => `every process of the group to end; left: ${JSON.stringify(left)}`,
      async () => {
        left = await inside.processesInside();
        return left.length === 0 ? true : undefined;
      },
    );
  });

  it('reports and kills processes left in the namespace when it stops', async () => {
    const inside = sandbox as Sandbox;
    // setsid puts it in its own session, out of reach of the process group kill, as sshd does with its sessions.
    const parent = inside.spawn(['setsid', '--fork', 'sleep', '1000']);
    await parent.exited;
    await waitFor('the detached sleep to run', async () =>
      (await inside.processesInside()).some((info) => info.name === 'sleep') ? true : undefined,
    );
    const report = await inside.stop();
    sandbox = undefined;
    expect(report.leftoverProcesses).toEqual([expect.objectContaining({ name: 'sleep', commandLine: 'sleep 1000' })]);
  });
});
