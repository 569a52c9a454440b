import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // The fault suite (kills processes, restarts Redis, cuts Postgres) runs on its own: npm run test:faults.
    exclude: [...configDefaults.exclude, 'tests/faults/**'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Each integration file gets its own database and Redis prefix, so files run in parallel safely.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
