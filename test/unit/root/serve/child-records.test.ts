import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/log.js';
import { endStaleChildren, forgetChild, recordChild, recordedChildren } from '../../../../src/root/serve/child-records.js';

const logger = createLogger('silent', 'test');

describe('child records', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'child-records-'));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('ends a child an earlier serve recorded and left running, then forgets it', async () => {
    const child = execa('sleep', ['600'], { reject: false });
    recordChild(directory, 'sshd', child.pid as number);
    expect(recordedChildren(directory)).toEqual([{ name: 'sshd', pid: child.pid, startTicks: expect.stringMatching(/^\d+$/) }]);

    await endStaleChildren(directory, logger);
    expect((await child).signal).toBe('SIGTERM');
    expect(readdirSync(directory)).toEqual([]);
  });

  it('never signals a process whose start time is not the recorded one (its PID was given to another)', async () => {
    const child = execa('sleep', ['600'], { reject: false });
    try {
      writeFileSync(join(directory, 'api'), `${child.pid} 1\n`);
      await endStaleChildren(directory, logger);
      expect(child.exitCode).toBeNull();
      expect(readdirSync(directory)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  });

  it('forgets a child that exited, and skips a malformed record', () => {
    writeFileSync(join(directory, 'broken'), 'not a pid\n');
    recordChild(directory, 'api', process.pid);
    forgetChild(directory, 'api');
    expect(recordedChildren(directory)).toEqual([]);
  });
});
