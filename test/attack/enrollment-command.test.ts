import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { commandLines, commandLinesWhile, runEnrollCommand, startCuttingServer, waitForFingerprint } from '../support/enroll-command.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Attacks on a VM while it runs the enroll command the admin handed over:
 * another user of the VM who wants the token (to enroll first, as that host),
 * and a network that cuts the script off so that only part of it would run.
 */

const NOBODY = '65534';

describe('the enroll command on the VM', () => {
  const server = useAttackServer();
  const group = 'VM: the enroll command';
  let vmHome = '';

  beforeEach(async () => {
    vmHome = await mkdtemp(join(tmpdir(), 'attack-vm-home-'));
  });

  afterEach(async () => {
    await rm(vmHome, { recursive: true, force: true });
  });

  async function denyPending(): Promise<void> {
    const { api } = server();
    const pending = await api.request<{ enrollments: { id: string }[] }>('GET', '/v1/admin/enrollments?status=pending', {
      bearer: api.adminToken,
    });
    for (const { id } of pending.body.enrollments) {
      await api.request('POST', `/v1/admin/enrollments/${id}/deny`, { body: {}, bearer: api.adminToken });
    }
  }

  attack(group, "another user of the VM reads the token from the process list (/proc/*/cmdline) or the script's environment", async () => {
    const { api } = server();
    const minted = await api.mintEnrollmentToken({ host: 'cmdline1' });
    // The control: a process with the token among its arguments is seen by this reader. It runs
    // until the reader has seen it (a fixed lifetime could end before a slow first look): a shell
    // waiting on its standard input, with no child to outlive it, ended by closing that input.
    const exposed = execa('sh', ['-c', 'read -r line', 'sh', minted.token], { reject: false });
    try {
      await waitFor('the control process, token among its arguments, in the process list', async () =>
        (await commandLines()).some((line) => line.includes(minted.token)) ? true : undefined,
      );
    } finally {
      exposed.stdin?.end();
      await exposed;
    }

    // Typed into a shell, as a person pastes it.
    const script = runEnrollCommand(minted.command, vmHome, { isTyped: true });
    const seen = commandLinesWhile(script.subprocess);
    await waitForFingerprint(script);
    const enrollShell = await waitFor('the shell running enroll.sh', async () => {
      // The typed line's pipeline runs it as a child of the shell this test started (not someone else's).
      const { stdout } = await execa('pgrep', ['-f', '-x', '-P', String(script.subprocess.pid), 'sh -s --'], { reject: false });
      return stdout.split('\n').filter(Boolean)[0];
    });
    // Another account cannot read the environment the token is in; the owner (the control) can.
    const asOwner = await execa('cat', [`/proc/${enrollShell}/environ`], { reject: false });
    expect(asOwner.stdout).toContain(`BORG_ENROLL_TOKEN=${minted.token}`);
    const asOther = await execa(
      'setpriv',
      ['--reuid', NOBODY, '--regid', NOBODY, '--clear-groups', 'cat', `/proc/${enrollShell}/environ`],
      {
        reject: false,
      },
    );
    expect(asOther.exitCode).not.toBe(0);
    expect(asOther.stdout).not.toContain(minted.token);
    await denyPending();
    expect((await script.subprocess).exitCode).toBe(1);

    const lines = [...(await seen)];
    expect(lines.some((line) => line.startsWith('sh -s --'))).toBe(true);
    expect(lines.filter((line) => line.includes(minted.token))).toEqual([]);
    return `${lines.length} command lines read while it ran, none with the token; /proc/PID/environ as nobody: ${asOther.stderr.trim()}`;
  });

  attack(group, 'the network cuts enroll.sh off on its way (connection dropped, or a complete response with half the script)', async () => {
    const { api, sandbox } = server();
    const genuine = await (await fetch(`${sandbox.baseUrl}/enroll.sh`)).text();
    expect(genuine).toContain(`SERVER_URL='${sandbox.baseUrl}'`);
    const cutting = await startCuttingServer((url) => genuine.replaceAll(sandbox.baseUrl, url));
    try {
      const minted = await api.mintEnrollmentToken({ host: 'cut1' });
      const command = minted.command.replaceAll(sandbox.baseUrl, cutting.url);

      // curl sees the connection end before the promised length: its status 18, and sh never starts.
      const dropped = await runEnrollCommand(command, vmHome).subprocess;
      expect(dropped.exitCode).toBe(18);

      // A clean cut: had sh run the lines it got, it would have asked the server for /v1/server and exited 0.
      cutting.mode.value = 'short';
      const short = runEnrollCommand(command, vmHome);
      const finished = await short.subprocess;
      expect(finished.exitCode, short.stderr()).not.toBe(0);
      expect(finished.stdout).toBe('');
      expect(cutting.requests).toEqual(['GET /enroll.sh', 'GET /enroll.sh']);
      expect(await readdir(vmHome)).toEqual([]);
      return `dropped: exit ${dropped.exitCode}; cut short: exit ${finished.exitCode} (${short.stderr().trim().split('\n').pop()}); no request after the script's, nothing written`;
    } finally {
      cutting.server.close();
    }
  });
});
