import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    reporters: ['default', './test/summary-reporter.ts'],
    // The tests load the test build of the addons (with runOp and the guarded device), which
    // CMake puts beside the shipped ones in build/Release/testing; PFGM_ADDON_DIR overrides it.
    env: { PFGM_ADDON_DIR: process.env.PFGM_ADDON_DIR ?? join(root, 'build', 'Release', 'testing') },
  },
});
