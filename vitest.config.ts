import { defineConfig } from 'vitest/config';

// Tests start real processes (worm-run, node, curl, python3, compiled C) and this machine's
// Node start is slow with NODE_EXTRA_CA_CERTS set: generous timeouts, few workers.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
