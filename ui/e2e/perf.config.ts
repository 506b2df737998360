import { defineConfig } from 'vitest/config';

// `npm run perf`: the web app's benchmark figures (e2e/web.perf.ts), printed for
// BENCHMARKS.md. Run through `BENCH=web scripts/bench.sh`.
export default defineConfig({
  test: { include: ['e2e/**/*.perf.ts'], environment: 'node', testTimeout: 600_000, hookTimeout: 120_000, fileParallelism: false },
});
