import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Real sockets and child processes: keep files isolated, give integration tests room.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
