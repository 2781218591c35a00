import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Two cores: files run one at a time so engine-heavy tests do not starve each other.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 240_000,
          globalSetup: ['test/e2e/global-setup.ts'],
        },
      },
    ],
  },
})
