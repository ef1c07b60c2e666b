import { defineConfig } from 'vitest/config';

/**
 * One run, four kinds of test: unit and api in-process; system with real sshd
 * and borg in a private mount namespace; image with the real container.
 * TEST_KINDS=unit,api limits a run to some of them.
 */
const kinds = (process.env.TEST_KINDS ?? 'unit,api,system,image').split(',');

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'api', include: ['test/api/**/*.test.ts'] } },
      {
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'image',
          include: ['test/image/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ].filter((project) => kinds.includes(project.test.name)),
  },
});
