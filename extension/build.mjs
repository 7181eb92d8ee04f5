#!/usr/bin/env node
// Builds the browser extension (Chromium, Manifest V3): type-check, then Vite builds the side panel and the service
// worker (ES modules) and the page reader (one classic script, injected into pages), then the manifest (version from
// package.json) and its _locales are copied, and the folder is packed as a zip beside it.
//   node extension/build.mjs                 dist/extension/ and dist/modelfab-extension.zip (npm run build:extension)
//   node extension/build.mjs --out DIR       DIR/ and DIR/../modelfab-extension.zip
//   --if-possible (npm install): a failure becomes one line, so installing modelfab never fails because of it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zip } from './zip.mjs';

const args = process.argv.slice(2);
const soft = args.includes('--if-possible');
const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..');
const outArg = args.indexOf('--out');
const out = resolve(outArg >= 0 && args[outArg + 1] ? args[outArg + 1] : join(root, 'dist/extension'));
const zipPath = join(dirname(out), 'modelfab-extension.zip');
const bin = (p) => join(root, 'node_modules', p);

function fail(msg) {
  if (soft) { console.log(`modelfab: browser extension not built (${msg}); the server works without it; retry with npm run build:extension`); process.exit(0); }
  console.error(`build:extension: ${msg}`);
  process.exit(1);
}

if (!existsSync(bin('vite/package.json')) || !existsSync(bin('typescript/bin/tsc')) || !existsSync(bin('echarts/package.json'))) fail('vite, typescript or echarts is not installed (npm install --include=dev)');
const tsc = spawnSync(process.execPath, [bin('typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
if (tsc.status !== 0) fail(`type errors: ${(tsc.stdout || tsc.stderr || '').trim().split('\n').slice(0, soft ? 1 : 20).join('\n')}`);

try {
  const { build } = await import('vite');
  const common = { configFile: false, logLevel: 'warn', base: './', publicDir: false };
  await build({
    ...common, root: join(here, 'src/panel'),
    build: {
      outDir: out, emptyOutDir: true, modulePreload: false, sourcemap: false, chunkSizeWarningLimit: 1500,
      rollupOptions: {
        input: { panel: join(here, 'src/panel/panel.html'), background: join(here, 'src/background.ts') },
        output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', assetFileNames: 'assets/[name]-[hash][extname]' },
      },
    },
  });
  await build({
    ...common, root: here,
    build: { outDir: out, emptyOutDir: false, sourcemap: false, minify: true, lib: { entry: join(here, 'src/page-reader.ts'), formats: ['iife'], name: 'modelfabPageReader', fileName: () => 'page-reader.js' } },
  });
} catch (e) {
  fail(`vite build failed: ${String(e?.message ?? e).split('\n')[0]}`);
}

const manifest = JSON.parse(readFileSync(join(here, 'manifest.json'), 'utf8'));
manifest.version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
cpSync(join(here, '_locales'), join(out, '_locales'), { recursive: true });
for (const f of ['panel.html', 'background.js', 'page-reader.js']) if (!existsSync(join(out, f))) fail(`${f} is missing from the build`);

const files = [];
const walk = (d) => { for (const n of readdirSync(d)) { const p = join(d, n); if (statSync(p).isDirectory()) walk(p); else files.push({ name: relative(out, p).split(sep).join('/'), data: readFileSync(p) }); } };
walk(out);
writeFileSync(zipPath, zip(files));
if (!soft) console.log(`browser extension built into ${relative(root, out) || out}/ and ${relative(root, zipPath)} (${files.length} files); load it unpacked from chrome://extensions`);
