/**
 * The reliability tests (crash, fault, load) run scaled down in the one test
 * command; `scripts/test-long` sets BORG_SERVER_LONG_TESTS=1 for their long
 * versions (100 crash trials, 60 s of load). Each test picks its own figures.
 */
export const isLongRun = process.env.BORG_SERVER_LONG_TESTS === '1';

/** `short` in the test command, `long` under scripts/test-long. */
export function scaled<T>(figures: { short: T; long: T }): T {
  return isLongRun ? figures.long : figures.short;
}
