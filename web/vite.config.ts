// Vite build of the web console: root web/, output dist/web/ (served by `modelfab serve` under /console/).
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { sep } from 'node:path';

const SERVER = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * The console imports the server's types from ../src, type-only, so the build erases them. A value import from
 * there would pull server code (and Node's modules) into the browser bundle: the build stops instead, naming it.
 */
function noServerModules(): Plugin {
  return {
    name: 'modelfab-no-server-modules',
    load(id) {
      const file = id.split('?')[0];
      if (file.startsWith(SERVER) || file.startsWith(SERVER.split(sep).join('/'))) {
        this.error(`${file} is server code: the console may import from src/ only with \`import type\``);
      }
      return null;
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [noServerModules(), react()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
    sourcemap: false,
    rollupOptions: { output: { manualChunks: (id: string) => (id.includes('node_modules/echarts') || id.includes('node_modules/zrender') ? 'charts' : id.includes('node_modules') ? 'vendor' : undefined) } },
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080' } },
});
