import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run from the TypeScript sources: every @fle/* import resolves through
// the packages' "@fle/source" export condition (no build before `npm test`),
// here and in every process a test spawns (services under tsx inherit
// NODE_OPTIONS). Only test/packages builds and packs, to test what ships.
const SOURCE_CONDITION = '@fle/source';
if (!(process.env.NODE_OPTIONS ?? '').includes(`--conditions=${SOURCE_CONDITION}`)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --conditions=${SOURCE_CONDITION}`.trim();
}

// One config for the whole repository: unit (*.test.ts), property (*.prop.test.ts)
// and integration (*.int.test.ts) tests. Integration tests start their own
// nats-server / keystore / gateway processes on random loopback ports.
export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions], externalConditions: [SOURCE_CONDITION] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores here and on CI: integration files spawn servers, keep them few at a time.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
