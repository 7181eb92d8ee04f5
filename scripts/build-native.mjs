#!/usr/bin/env node
/**
 * Builds the native gemm addon (native/gemm.c -> build/Release/modelfab_gemm.node) against OpenBLAS.
 *
 * Run by `npm install` (the package's install script), `npm rebuild modelfab` and `npm run build`.
 * It never fails the install: when OpenBLAS, a compiler or the Node headers are missing, or the build fails, it
 * prints a one-line notice and exits 0, and modelfab uses its portable WebAssembly gemm instead.
 * `--strict` (for CI) makes any of those an error (exit 1).
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
const addonPath = join(root, 'build', 'Release', 'modelfab_gemm.node');
const HINT = 'For the fast native backend: apt-get install libopenblas-dev && npm rebuild modelfab (or npm run build)';

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
  const defs = [`-Dopenblas_include=${blas.include}`, `-Dopenblas_libdir=${blas.libdir}`, `-Dopenblas_lib=${blas.lib}`];
  const c = run(process.execPath, [gyp, 'configure', ...common, '--', ...defs]);
  if (!c.ok) return c;
  const b = run(process.execPath, [gyp, 'build', ...common]);
  return { ok: b.ok, log: c.log + b.log };
}

/** Fallback without node-gyp/python: one compiler call (N-API addons need no link against node on ELF/Mach-O). */
function buildWithCC(blas, headers) {
  if (!headers) return { ok: false, log: 'no node headers for a direct compile\n' };
  mkdirSync(dirname(addonPath), { recursive: true });
  const args = ['-O2', '-std=gnu11', '-shared', '-fPIC', '-I', join(headers, 'include', 'node')];
  if (blas.include) args.push('-I', blas.include);
  args.push(join(root, 'native', 'gemm.c'), '-o', addonPath);
  if (blas.libdir) args.push(`-L${blas.libdir}`, `-Wl,-rpath,${blas.libdir}`);
  args.push(`-l${blas.lib}`, '-lm');
  if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
  return run(process.env.CC || 'cc', args);
}

/** Loads the addon and checks a tiny product; returns the OpenBLAS config string or throws. */
function smokeTest() {
  const addon = createRequire(import.meta.url)(addonPath);
  const A = new Float32Array([1, 2, 3, 4]), B = new Float32Array([5, 6, 7, 8]), C = new Float32Array([NaN, NaN, NaN, NaN]);
  addon.sgemm(false, false, 2, 2, 2, 1, A, B, 0, C);
  if (String(C) !== '19,22,43,50') throw new Error(`wrong product ${C}`);
  return String(addon.config()).trim();
}

function main() {
  if (process.env.MODELFAB_SKIP_NATIVE && process.env.MODELFAB_SKIP_NATIVE !== '0') {
    rmSync(addonPath, { force: true });
    giveUp('native gemm skipped (MODELFAB_SKIP_NATIVE)');
  }
  const blas = findOpenBLAS();
  if (!blas) giveUp('OpenBLAS not found');
  const headers = nodeHeadersPrefix();
  let result = buildWithNodeGyp(blas, headers);
  if (!result.ok) {
    const direct = buildWithCC(blas, headers);
    result = { ok: direct.ok, log: result.log + direct.log };
  }
  if (!result.ok || !existsSync(addonPath)) {
    rmSync(addonPath, { force: true }); // never leave a stale addon behind a failed build
    giveUp('building the native OpenBLAS gemm failed (run with --verbose for the log)', result.log);
  }
  try {
    const cfg = smokeTest();
    console.log(`modelfab: built the native gemm (${cfg}, ${os.availableParallelism?.() ?? os.cpus().length} cores) -> build/Release/modelfab_gemm.node`);
  } catch (e) {
    rmSync(addonPath, { force: true });
    giveUp(`the native OpenBLAS gemm does not load (${e instanceof Error ? e.message : e})`, result.log);
  }
}

try {
  main();
} catch (e) {
  // never let an unexpected error fail `npm install`
  giveUp(`the native gemm build stopped (${e instanceof Error ? e.message : String(e)})`);
}
