import { defineConfig } from 'vitest/config';

/**
 * One run, five kinds of test: unit and api in-process; system with real sshd
 * and borg in a private mount namespace; attack, the same against a hostile VM
 * and network, printing a matrix of refused attacks; image with the real container.
 * TEST_KINDS=unit,api limits a run to some of them.
 */
const kinds = (process.env.TEST_KINDS ?? 'unit,api,system,attack,image').split(',');
// An image of another architecture (scripts/test-arm64) is built and run under emulation, many times slower.
const imageSlowdown = process.env.BORG_SERVER_TEST_IMAGE_ARCH ? 10 : 1;

export default defineConfig({
  test: {
    // The second writes what failed to test-artifacts/failures.txt, which scripts/test prints last.
    reporters: ['default', './test/support/failure-summary-reporter.ts'],
    projects: [
      // Bounds, not waits: a unit test that spawns ssh-keygen forty times or records a thousand
      // sessions takes a second or two alone and several times that while other work keeps both
      // cores busy, past vitest's 5 s (test) and 10 s (hook, RSA keys) defaults.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 } },
      { test: { name: 'api', include: ['test/api/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 } },
      {
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          globalSetup: ['test/system/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'attack',
          include: ['test/attack/**/*.test.ts'],
          globalSetup: ['test/attack/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'image',
          include: ['test/image/**/*.test.ts'],
          testTimeout: 600_000 * imageSlowdown,
          hookTimeout: 1_800_000 * imageSlowdown,
          fileParallelism: false,
        },
      },
    ].filter((project) => kinds.includes(project.test.name)),
  },
});
