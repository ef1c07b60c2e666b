import type { CheckOutcome } from './check-schedule.js';

/**
 * The command line of the server's repository check, and what its result
 * means. Pure: paths in, an argument array out; exit code and stderr in, an
 * outcome out.
 */

export const BORG = '/usr/bin/borg';
export const NICE = '/usr/bin/nice';
export const IONICE = '/usr/bin/ionice';

/** One slice of a check: borg stops after the segment that crosses this and resumes there next time. */
export const CHECK_SLICE_SECONDS = 1800;
/** borg looks at the clock only between segments (up to 500 MiB each): room for the last one. */
export const CHECK_TIMEOUT_MARGIN_SECONDS = 600;

export interface BorgCheckCommand {
  file: string;
  arguments: string[];
}

/**
 * `nice -n 19 [ionice -c3] borg check --repository-only --max-duration S --info REPO`:
 * lowest CPU priority, idle I/O class when ionice is there. Repository only:
 * it needs no key. `--info` makes borg say how far a partial check got.
 */
export function borgCheckCommand(repository: string, options: { maxDurationSeconds: number; hasIonice: boolean }): BorgCheckCommand {
  const borg = [BORG, 'check', '--repository-only', '--max-duration', String(options.maxDurationSeconds), '--info', repository];
  return {
    file: NICE,
    arguments: ['-n', '19', ...(options.hasIonice ? [IONICE, '-c3'] : []), ...borg],
  };
}

/** Where borg keeps its cache and security files for one host's checks: the host's, under root's state dir. */
export function checkScratchDir(stateDir: string, hostName: string): string {
  return `${stateDir}/checks/${hostName}`;
}

/**
 * borg's environment for the check: its own scratch directory for cache and
 * security files (never the repository, never root's home), and every
 * "are you sure" answered no.
 */
export function borgCheckEnvironment(scratchDir: string): Record<string, string> {
  return {
    HOME: scratchDir,
    BORG_BASE_DIR: scratchDir,
    TMPDIR: scratchDir,
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
    BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: 'NO',
    BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'NO',
    // borg 1.4 (the image's) can give other exit codes; parseBorgCheckResult reads the 0/1/2 ones.
    BORG_EXIT_CODES: 'legacy',
  };
}

export interface BorgCheckResult {
  exitCode: number | undefined;
  stderr: string;
  /** The server ended it (a session of the host appeared, or the server stops). */
  wasEnded: boolean;
  timedOut: boolean;
}

export interface ParsedCheck {
  outcome: CheckOutcome;
  detail: string | null;
  /** An ok slice that stopped before the last segment. */
  isPartial: boolean;
}

const MAX_DETAIL_LENGTH = 500;
const PARTIAL_LINE = /finished partial segment check, last segment checked is (\d+)/;
const LOCK_FAILURE = /Failed to create\/acquire the lock|LockTimeout|lock\.exclusive/;

function lastLines(lines: string[], count: number): string | null {
  const text = lines.slice(-count).join('\n').trim();
  return text === '' ? null : text.slice(-MAX_DETAIL_LENGTH);
}

/** What borg's stderr says went wrong: its error lines, not the info lines or the index listing. */
function errorLines(stderr: string): string[] {
  // After a traceback borg reports its platform, PID and argv: not the error.
  const [beforeReport = ''] = stderr.split(/^Platform: /m);
  return (
    beforeReport
      .split('\n')
      // A traceback's frames are indented; its first and last lines are not.
      .filter((line) => !/^\s/.test(line) && !line.startsWith('Traceback '))
      .map((line) => line.trim())
      .filter(
        (line) => line !== '' && !line.startsWith('ID: ') && !/^(Starting|skipping|finished|Finished|Index object count match)/.test(line),
      )
  );
}

/**
 * borg check's exit codes: 0 no problems, 1 problems found (a warning), 2
 * it could not check. A check the server ended, or one that met a backup's
 * lock, is interrupted: it resumes later.
 */
export function parseBorgCheckResult(result: BorgCheckResult): ParsedCheck {
  if (result.wasEnded) return { outcome: 'interrupted', detail: 'ended: a backup session of the host began', isPartial: false };
  if (result.timedOut) return { outcome: 'error', detail: 'the check ran past its time limit and was ended', isPartial: false };
  const partial = PARTIAL_LINE.exec(result.stderr);
  switch (result.exitCode) {
    case 0:
      return partial
        ? { outcome: 'ok', detail: `partial: checked up to segment ${partial[1]}; the rest follows`, isPartial: true }
        : { outcome: 'ok', detail: null, isPartial: false };
    case 1:
      return { outcome: 'failed', detail: lastLines(errorLines(result.stderr), 3), isPartial: false };
    default:
      if (LOCK_FAILURE.test(result.stderr)) {
        return { outcome: 'interrupted', detail: 'the repository was locked by a session', isPartial: false };
      }
      return {
        outcome: 'error',
        detail:
          lastLines(errorLines(result.stderr), 3) ??
          (result.exitCode === undefined ? 'borg was ended' : `borg exited with ${result.exitCode}`),
        isPartial: false,
      };
  }
}

/** Whether a kept row's detail says the check stopped before the last segment (see parseBorgCheckResult). */
export function isPartialCheckDetail(detail: string | null): boolean {
  return detail?.startsWith('partial:') ?? false;
}
