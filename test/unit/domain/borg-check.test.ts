import { describe, expect, it } from 'vitest';
import { borgCheckCommand, borgCheckEnvironment, isPartialCheckDetail, parseBorgCheckResult } from '../../../src/domain/borg-check.js';

const ran = { wasEnded: false, timedOut: false };

/** What borg 1.2.4 printed (--info) for a repository with one flipped byte range in segment 2, partial mode. */
const CORRUPTED_STDERR = [
  'Starting repository check',
  'skipping to segments >= 0',
  'Data integrity error: Segment entry checksum mismatch [segment 2, offset 55]',
  'finished segment check at segment 5',
  'Finished partial repository check, errors found.',
  '',
].join('\n');

describe('the borg check command', () => {
  it('runs borg check of the repository only, niced and in the idle I/O class, for at most one slice', () => {
    expect(borgCheckCommand('/backups/web1/repo', { maxDurationSeconds: 1800, hasIonice: true })).toEqual({
      file: '/usr/bin/nice',
      arguments: [
        '-n',
        '19',
        '/usr/bin/ionice',
        '-c3',
        '/usr/bin/borg',
        'check',
        '--repository-only',
        '--max-duration',
        '1800',
        '--info',
        '/backups/web1/repo',
      ],
    });
  });

  it('leaves ionice out where it is not installed', () => {
    expect(borgCheckCommand('/backups/web1/repo', { maxDurationSeconds: 60, hasIonice: false }).arguments).toEqual([
      '-n',
      '19',
      '/usr/bin/borg',
      'check',
      '--repository-only',
      '--max-duration',
      '60',
      '--info',
      '/backups/web1/repo',
    ]);
  });

  it("keeps borg's files in the scratch directory and answers every borg question no", () => {
    expect(borgCheckEnvironment('/state/checks/web1')).toEqual({
      HOME: '/state/checks/web1',
      BORG_BASE_DIR: '/state/checks/web1',
      TMPDIR: '/state/checks/web1',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
      BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: 'NO',
      BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'NO',
      BORG_EXIT_CODES: 'legacy',
    });
  });
});

describe('the outcome of a borg check', () => {
  it('is ok with no detail when borg checked every segment without a problem', () => {
    const stderr =
      'Starting repository check\nfinished segment check at segment 5\nFinished partial repository check, no problems found.\n';
    expect(parseBorgCheckResult({ exitCode: 0, stderr, ...ran })).toEqual({ outcome: 'ok', detail: null, isPartial: false });
  });

  it('is ok and partial when borg stopped at the end of its slice', () => {
    const stderr =
      'Starting repository check\nfinished partial segment check, last segment checked is 812\nFinished partial repository check, no problems found.\n';
    const parsed = parseBorgCheckResult({ exitCode: 0, stderr, ...ran });
    expect(parsed).toEqual({ outcome: 'ok', detail: 'partial: checked up to segment 812; the rest follows', isPartial: true });
    expect(isPartialCheckDetail(parsed.detail)).toBe(true);
  });

  it("is failed with borg's error lines when it found a problem (exit code 1)", () => {
    expect(parseBorgCheckResult({ exitCode: 1, stderr: CORRUPTED_STDERR, ...ran })).toEqual({
      outcome: 'failed',
      detail: 'Data integrity error: Segment entry checksum mismatch [segment 2, offset 55]',
      isPartial: false,
    });
  });

  it('keeps only the last three error lines, without the index listing', () => {
    const stderr = [
      'Data integrity error: one',
      'Data integrity error: two',
      'Index object count mismatch.',
      'ID: 5caf26c7 rebuilt index: <not found>      committed index: (2, 55)',
      'Data integrity error: four',
      'Finished full repository check, errors found.',
    ].join('\n');
    expect(parseBorgCheckResult({ exitCode: 1, stderr, ...ran }).detail).toBe(
      'Data integrity error: two\nIndex object count mismatch.\nData integrity error: four',
    );
  });

  it('is an error when borg could not check (exit code 2)', () => {
    const stderr = 'Repository /backups/web1/repo does not exist.\n';
    expect(parseBorgCheckResult({ exitCode: 2, stderr, ...ran })).toEqual({
      outcome: 'error',
      detail: 'Repository /backups/web1/repo does not exist.',
      isPartial: false,
    });
  });

  it('keeps the exception of a borg traceback, not its frames or its platform report', () => {
    const stderr = [
      'Local Exception',
      'Traceback (most recent call last):',
      '  File "/usr/lib/python3/dist-packages/borg/archiver.py", line 5159, in main',
      '    exit_code = archiver.run(args)',
      "PermissionError: [Errno 1] Operation not permitted: '/srv/backups/web1/repo/config'",
      '',
      'Platform: Linux host 6.1.0 #1 SMP x86_64',
      'Borg: 1.2.4  Python: CPython 3.11.2 msgpack: 1.0.3 fuse: llfuse 1.4.1 [pyfuse3,llfuse]',
      'PID: 26893  CWD: /srv/state/checks/web1',
      "sys.argv: ['/usr/bin/borg', 'check']",
      'SSH_ORIGINAL_COMMAND: None',
    ].join('\n');
    expect(parseBorgCheckResult({ exitCode: 2, stderr, ...ran }).detail).toBe(
      "Local Exception\nPermissionError: [Errno 1] Operation not permitted: '/srv/backups/web1/repo/config'",
    );
  });

  it('is interrupted when a session held the repository lock', () => {
    const stderr = 'Failed to create/acquire the lock /backups/web1/repo/lock.exclusive (timeout).\n';
    expect(parseBorgCheckResult({ exitCode: 2, stderr, ...ran }).outcome).toBe('interrupted');
  });

  it('is interrupted when the server ended it, whatever borg said', () => {
    expect(parseBorgCheckResult({ exitCode: 143, stderr: 'Got Ctrl-C / SIGINT.\n', wasEnded: true, timedOut: false }).outcome).toBe(
      'interrupted',
    );
  });

  it('is an error when it ran past its time limit', () => {
    expect(parseBorgCheckResult({ exitCode: undefined, stderr: '', wasEnded: false, timedOut: true }).outcome).toBe('error');
  });

  it('keeps the detail short', () => {
    const stderr = `Data integrity error: ${'x'.repeat(2000)}\n`;
    expect(parseBorgCheckResult({ exitCode: 1, stderr, ...ran }).detail?.length).toBe(500);
  });
});
