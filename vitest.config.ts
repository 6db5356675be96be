import { defineConfig } from 'vitest/config';

// One config for the whole repository: unit (*.test.ts), property (*.prop.test.ts)
// and integration (*.int.test.ts) tests. Integration tests start their own
// nats-server / keystore / gateway processes on random loopback ports.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores here and on CI: integration files spawn servers, keep them few at a time.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
