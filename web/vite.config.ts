// Vite build of the web console: root web/, output dist/web/ (served by `modelfab serve` under /console/).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [react()],
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
