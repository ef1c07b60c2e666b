import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

/** Where scripts/test finds what failed, to print it as a run's very last lines. */
export const FAILURE_SUMMARY_FILE = 'test-artifacts/failures.txt';

const STACK_LINES = 12;

/**
 * Writes every failed test with its first error, and errors outside any test,
 * to FAILURE_SUMMARY_FILE. vitest prints its own summary before the global
 * teardowns run, so the attack matrix lands after it: a log that keeps only
 * its tail (a CI page) would show the matrix and hide what failed.
 */
export default class FailureSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const failures = [
      ...describeFailedModules(testModules),
      ...unhandledErrors.map((error) => describeError('an error outside any test', error)),
    ];
    rmSync(FAILURE_SUMMARY_FILE, { force: true });
    if (failures.length === 0) return;
    mkdirSync(dirname(FAILURE_SUMMARY_FILE), { recursive: true });
    writeFileSync(FAILURE_SUMMARY_FILE, `\nWhat failed (${failures.length}):\n\n${failures.join('\n\n')}\n`);
  }
}

function* describeFailedModules(testModules: ReadonlyArray<TestModule>): Generator<string> {
  for (const testModule of testModules) {
    const file = `[${testModule.project.name}] ${relative(process.cwd(), testModule.moduleId)}`;
    for (const error of testModule.errors()) yield describeError(`${file}: the file itself`, error);
    for (const test of testModule.children.allTests('failed')) {
      const [firstError] = test.result().errors ?? [];
      yield describeError(`${file} > ${test.fullName}`, firstError);
    }
  }
}

function describeError(where: string, error: SerializedError | undefined): string {
  const text = error?.stack || error?.message || 'no error recorded';
  const lines = text
    .split('\n')
    .filter((line) => !line.includes('/node_modules/'))
    .slice(0, STACK_LINES)
    .map((line) => `    ${line}`);
  return `FAIL ${where}\n${lines.join('\n')}`;
}
