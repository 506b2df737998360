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
    // The service worker (alerts while no page is open) is served at /sw.js, unhashed and
    // revalidated, so that the browser finds its updates; it is registered as a module.
    rollupOptions: {
      input: { index: 'index.html', sw: 'src/sw.ts' },
      output: { entryFileNames: (c) => (c.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js') },
    },
  },
  oxc: { jsx: { runtime: 'automatic' } },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
