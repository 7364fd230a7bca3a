import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Fails any test file whose output carries an Upstash token; keeps every test away from the
    // stack file of a running `npm start` (see the files).
    setupFiles: ['test/helpers/leak-guard.ts', 'test/helpers/isolation.ts'],
    // Two cores: two workers keep the suite parallel without starving the Redis it talks to.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Upstash clients read these; the real values come from the global setup.
    env: { UPSTASH_DISABLE_TELEMETRY: '1' },
  },
});
