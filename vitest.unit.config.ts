import { defineConfig } from 'vitest/config'

// The unit tests alone (`npm run test:unit`, part of `npm run check`): no root, no namespaces, no lab, no
// shared host state, so unlike the full suite (vitest.config.ts) their files run in parallel.
// `npm run test:unit` loads this file with `--configLoader runner`: the default loader writes the bundled
// config into node_modules/.vite-temp, which a user who does not own node_modules cannot do.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
