import { defineConfig } from 'vitest/config';

// End-to-end tests: the real `porchlight serve` and agent, the GStreamer RTSP test
// server and Debian's Chromium through playwright-core (never a downloaded browser).
// Run by `cargo test -p porchlight --test web_app` (which builds the binary and passes
// PORCHLIGHT_BIN) or `npm run e2e` with PORCHLIGHT_BIN set.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
