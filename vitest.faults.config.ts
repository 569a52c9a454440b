import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault and abuse suite (tests/faults). Files run one after another: they kill processes,
 * restart Redis and cut Postgres, and load both cores, so running them side by side would only blur what each
 * measures. The summary table (scenario, commands, faults, lost, duplicated, 5xx) is printed at the end.
 */
export default defineConfig({
  test: {
    include: ['tests/faults/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts', 'tests/faults/helpers/summary.ts'],
    pool: 'forks',
    fileParallelism: false,
    // Outages make drivers log every lost connection; show console output only for tests that fail.
    silent: 'passed-only',
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
