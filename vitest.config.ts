import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // CI asks for a summary on the side: counts, failures and skips by name (see .ci/run).
    ...(process.env.PIPCACHE_VITEST_REPORT
      ? { reporters: ['default', ['./.ci/summary-reporter.ts', { outputFile: process.env.PIPCACHE_VITEST_REPORT }]] }
      : {}),
  },
});
