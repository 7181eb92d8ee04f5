#!/usr/bin/env node
/**
 * Builds the native addons into build/Release/:
 *   modelfab_gemm.node      the engine's own sgemm micro-kernels (native/gemm.c, sgemm.c, sgemm-kernels.c:
 *                           AVX-512, AVX2+FMA, plain C, chosen at run time); needs only a C compiler
 *   modelfab_kernels.node   vectorised softmax, sigmoid, AdamW (native/kernels.c)
 *   modelfab_openblas.node  OpenBLAS's sgemm (native/openblas.c), only when OpenBLAS is installed; used only when
 *                           asked for (MODELFAB_GEMM=openblas). MODELFAB_OPENBLAS=0 skips it.
 *
 * Run by `npm install` (the package's install script), `npm rebuild modelfab` and `npm run build`, with the same
 * compiler and node-gyp that build better-sqlite3. It never fails the install: when a compiler or the Node headers
 * are missing, or the build fails, it prints a one-line notice and exits 0, and modelfab uses its portable
 * WebAssembly gemm instead. `--strict` (for CI) makes any of those an error (exit 1).
 *
 * OpenBLAS is looked for in the usual system places; set OPENBLAS_HOME (a prefix with include/ and lib/) to point
 * at another installation. MODELFAB_SKIP_NATIVE=1 skips the native build (the portable gemm is used).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const verbose = process.argv.includes('--verbose') || !!process.env.MODELFAB_BUILD_VERBOSE;
const release = join(root, 'build', 'Release');
const addonPath = join(release, 'modelfab_gemm.node');
const kernelsPath = join(release, 'modelfab_kernels.node');
const openblasPath = join(release, 'modelfab_openblas.node');
const HINT = 'The native kernels need a C compiler (apt-get install build-essential) and then npm rebuild modelfab (or npm run build)';

function giveUp(reason, log = '') {
  if (log && (verbose || strict)) process.stderr.write(log.trimEnd() + '\n');
  const line = `modelfab: ${reason}; using the portable WebAssembly gemm. ${HINT}`;
  if (strict) {
    console.error(line);
    process.exit(1);
  }
  console.log(line);
  process.exit(0);
}

function multiarch() {
  const r = spawnSync('cc', ['-print-multiarch'], { encoding: 'utf8' });
  const t = r.status === 0 ? r.stdout.trim() : '';
  if (t) return t;
  const arch = { x64: 'x86_64', arm64: 'aarch64', ppc64: 'powerpc64le', s390x: 's390x' }[process.arch] ?? process.arch;
  return `${arch}-linux-gnu`;
}

/** Finds OpenBLAS: { include, libdir, lib } where include/libdir are '' for the compiler's default paths. */
function findOpenBLAS() {
  const tri = process.platform === 'linux' ? multiarch() : '';
  const prefixes = [];
  if (process.env.OPENBLAS_HOME) prefixes.push(process.env.OPENBLAS_HOME);
  if (process.platform === 'darwin') prefixes.push('/opt/homebrew/opt/openblas', '/usr/local/opt/openblas');
  prefixes.push('/usr/local', '/opt/OpenBLAS', '/usr');
  const defaultInc = new Set(['/usr/include', '/usr/local/include', tri && `/usr/include/${tri}`].filter(Boolean));
  const defaultLib = new Set(['/usr/lib', '/usr/lib64', '/lib', '/usr/local/lib', tri && `/usr/lib/${tri}`, tri && `/lib/${tri}`].filter(Boolean));
  const incDirs = [];
  const libDirs = [];
  for (const p of prefixes) {
    incDirs.push(join(p, 'include'), join(p, 'include', 'openblas'));
    if (tri) incDirs.push(join(p, 'include', tri));
    libDirs.push(join(p, 'lib'), join(p, 'lib64'));
    if (tri) libDirs.push(join(p, 'lib', tri));
  }
  const ext = process.platform === 'darwin' ? 'dylib' : 'so';
  const include = incDirs.find((d) => {
    const f = join(d, 'cblas.h');
    if (!existsSync(f)) return false;
    try {
      return /openblas/i.test(readFileSync(f, 'utf8'));
    } catch {
      return false;
    }
  });
  const libdir = libDirs.find((d) => existsSync(join(d, `libopenblas.${ext}`)));
  if (!include || !libdir) return null;
  return { include: defaultInc.has(include) ? '' : include, libdir: defaultLib.has(libdir) ? '' : libdir, lib: 'openblas' };
}

function nodeGypScript() {
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    const fromNpm = process.env.npm_config_node_gyp; // npm exports the path of its bundled node-gyp to scripts
    return fromNpm && existsSync(fromNpm) ? fromNpm : null;
  }
}

/** A prefix holding include/node/node_api.h for the running node (so node-gyp needs no download), or null. */
function nodeHeadersPrefix() {
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 });
  const log = `$ ${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) + '\n' : ''}`;
  if (verbose) process.stderr.write(log);
  return { ok: r.status === 0, log };
}

function buildWithNodeGyp(blas, headers) {
  const gyp = nodeGypScript();
  if (!gyp) return { ok: false, log: 'node-gyp not found\n' };
  const common = headers ? [`--nodedir=${headers}`] : [];
  const defs = blas
    ? ['-Dwith_openblas=1', `-Dopenblas_include=${blas.include}`, `-Dopenblas_libdir=${blas.libdir}`, `-Dopenblas_lib=${blas.lib}`]
    : ['-Dwith_openblas=0'];
  const c = run(process.execPath, [gyp, 'configure', ...common, '--', ...defs]);
  if (!c.ok) return c;
  const b = run(process.execPath, [gyp, 'build', ...common]);
  return { ok: b.ok, log: c.log + b.log };
}

/** Fallback without node-gyp/python: one compiler call per addon (N-API addons need no link against node on ELF/Mach-O). */
function buildWithCC(blas, headers) {
  if (!headers) return { ok: false, log: 'no node headers for a direct compile\n' };
  mkdirSync(release, { recursive: true });
  const cc = process.env.CC || 'cc';
  const base = ['-std=gnu11', '-shared', '-fPIC', '-I', join(headers, 'include', 'node')];
  const tail = process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : [];
  const src = (f) => join(root, 'native', f);
  const gemm = run(cc, ['-O3', '-ffp-contract=off', ...base, src('gemm.c'), src('sgemm.c'), src('sgemm-kernels.c'), src('attention.c'), '-o', addonPath, '-lpthread', '-lm', ...tail]);
  let log = gemm.log;
  const kernels = run(cc, ['-O3', '-ffast-math', '-march=native', ...base, src('kernels.c'), '-o', kernelsPath, '-lmvec', '-lm', ...tail]);
  log += kernels.log;
  if (blas) {
    const args = ['-O2', ...base];
    if (blas.include) args.push('-I', blas.include);
    args.push(src('openblas.c'), '-o', openblasPath);
    if (blas.libdir) args.push(`-L${blas.libdir}`, `-Wl,-rpath,${blas.libdir}`);
    args.push(`-l${blas.lib}`, '-lm', ...tail);
    log += run(cc, args).log;
  }
  return { ok: gemm.ok, log };
}

function product(addon, extra = []) {
  const A = new Float32Array([1, 2, 3, 4]), B = new Float32Array([5, 6, 7, 8]), C = new Float32Array([NaN, NaN, NaN, NaN]);
  addon.sgemm(false, false, 2, 2, 2, 1, A, B, 0, C, ...extra);
  if (String(C) !== '19,22,43,50') throw new Error(`wrong product ${C}`);
}

/** Loads the own-kernel addon and checks a tiny product with every kernel the processor runs; returns their names. */
function smokeTest() {
  const addon = createRequire(import.meta.url)(addonPath);
  const kernels = addon.kernels();
  kernels.forEach((k, i) => { if (k.supported) product(addon, [1, i]); });
  product(addon);
  return kernels[addon.best()].name;
}

/** The OpenBLAS addon's config string, or null (and the addon removed) when it is absent or broken. */
function smokeTestOpenBLAS() {
  if (!existsSync(openblasPath)) return null;
  try {
    const addon = createRequire(import.meta.url)(openblasPath);
    product(addon);
    return String(addon.config()).trim();
  } catch {
    rmSync(openblasPath, { force: true });
    return null;
  }
}

function main() {
  if (process.env.MODELFAB_SKIP_NATIVE && process.env.MODELFAB_SKIP_NATIVE !== '0') {
    for (const p of [addonPath, kernelsPath, openblasPath]) rmSync(p, { force: true });
    giveUp('native kernels skipped (MODELFAB_SKIP_NATIVE)');
  }
  const blas = process.env.MODELFAB_OPENBLAS === '0' ? null : findOpenBLAS();
  for (const p of [addonPath, kernelsPath, openblasPath]) rmSync(p, { force: true }); // never keep a stale addon
  const headers = nodeHeadersPrefix();
  let result = buildWithNodeGyp(blas, headers);
  if (!result.ok) {
    const direct = buildWithCC(blas, headers);
    result = { ok: direct.ok, log: result.log + direct.log };
  }
  if (!result.ok || !existsSync(addonPath)) {
    rmSync(addonPath, { force: true });
    giveUp('building the native kernels failed (run with --verbose for the log)', result.log);
  }
  let kernel;
  try {
    kernel = smokeTest();
  } catch (e) {
    rmSync(addonPath, { force: true });
    giveUp(`the native gemm does not load (${e instanceof Error ? e.message : e})`, result.log);
  }
  const cfg = smokeTestOpenBLAS();
  const extra = cfg ? `; ${cfg.split(' ').slice(0, 2).join(' ')} built too, MODELFAB_GEMM=openblas uses it` : '';
  console.log(`modelfab: built the native gemm (own kernels, ${kernel}; ${os.availableParallelism?.() ?? os.cpus().length} cores${extra}) -> build/Release/`);
}

try {
  main();
} catch (e) {
  // never let an unexpected error fail `npm install`
  giveUp(`the native build stopped (${e instanceof Error ? e.message : String(e)})`);
}
