import { defineConfig } from 'vitest/config';

// The app is served by `porchlight serve` from the files this writes to dist/
// (embedded into the binary at build time). No inline scripts: the server's
// Content-Security-Policy allows scripts from its own origin only.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 400,
  },
  oxc: { jsx: { runtime: 'automatic' } },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
