import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start their own nats-server and gateways on free
    // loopback ports; forks keep uWS native handles apart per file.
    pool: 'forks',
    fileParallelism: true,
  },
});
