import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/ts/**/*.test.ts', 'test/unit/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The network tests share the host's namespaces and nftables: run files one at a time.
    fileParallelism: false,
  },
})
