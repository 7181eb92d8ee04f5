/**
 * A tiny WebAssembly assembler: just what the portable gemm kernel (gemm-kernel.mjs) needs.
 *
 * Code is written as nested arrays of bytes in stack order, built with expression helpers that read like WAT's
 * folded form, e.g. i32.add(get(x), i32.const(4)). `flat()` turns them into a byte array. The module format is
 * the WebAssembly 1.0 binary format plus the SIMD (0xfd-prefixed) opcodes and a shared imported memory.
 */

export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

export function uleb(n) {
  const out = [];
  n >>>= 0;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n) {
  const out = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function f32bytes(x) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...b];
}

/** Flattens nested arrays of bytes. */
export function flat(code) {
  const out = [];
  const walk = (c) => {
    if (Array.isArray(c)) for (const x of c) walk(x);
    else if (typeof c === 'number') out.push(c);
    else if (c != null && c !== false) throw new Error(`bad code item ${c}`);
  };
  walk(code);
  return out;
}

const str = (s) => {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
};
const vec = (items) => [...uleb(items.length), ...items.flat()];
const section = (id, body) => [id, ...uleb(body.length), ...body];

// ---- instructions ------------------------------------------------------------------------------------------
const memarg = (align, offset) => [...uleb(align), ...uleb(offset)];
const simd = (op) => [0xfd, ...uleb(op)];

/** A local variable handle: { index }. */
export const get = (l) => [0x20, ...uleb(l.index)];
export const set = (l, v) => [v, 0x21, ...uleb(l.index)];
export const tee = (l, v) => [v, 0x22, ...uleb(l.index)];

export const i32 = {
  const: (n) => [0x41, ...sleb(n)],
  load: (p, off = 0) => [p, 0x28, ...memarg(2, off)],
  store: (p, v, off = 0) => [p, v, 0x36, ...memarg(2, off)],
  eqz: (a) => [a, 0x45],
  eq: (a, b) => [a, b, 0x46],
  ne: (a, b) => [a, b, 0x47],
  lt_s: (a, b) => [a, b, 0x48],
  lt_u: (a, b) => [a, b, 0x49],
  gt_s: (a, b) => [a, b, 0x4a],
  gt_u: (a, b) => [a, b, 0x4b],
  le_s: (a, b) => [a, b, 0x4c],
  ge_s: (a, b) => [a, b, 0x4e],
  ge_u: (a, b) => [a, b, 0x4f],
  add: (a, b) => [a, b, 0x6a],
  sub: (a, b) => [a, b, 0x6b],
  mul: (a, b) => [a, b, 0x6c],
  div_s: (a, b) => [a, b, 0x6d],
  and: (a, b) => [a, b, 0x71],
  or: (a, b) => [a, b, 0x72],
  shl: (a, b) => [a, b, 0x74],
  shr_u: (a, b) => [a, b, 0x76],
  select: (a, b, cond) => [a, b, cond, 0x1b], // cond ? a : b
};

export const f32 = {
  const: (x) => [0x43, ...f32bytes(x)],
  load: (p, off = 0) => [p, 0x2a, ...memarg(2, off)],
  store: (p, v, off = 0) => [p, v, 0x38, ...memarg(2, off)],
  eq: (a, b) => [a, b, 0x5b],
  ne: (a, b) => [a, b, 0x5c],
  add: (a, b) => [a, b, 0x92],
  sub: (a, b) => [a, b, 0x93],
  mul: (a, b) => [a, b, 0x94],
};

export const v128 = {
  load: (p, off = 0) => [p, simd(0x00), ...memarg(4, off)],
  load32_splat: (p, off = 0) => [p, simd(0x09), ...memarg(2, off)],
  store: (p, v, off = 0) => [p, v, simd(0x0b), ...memarg(4, off)],
  zero: () => [simd(0x0c), ...new Array(16).fill(0)],
  shuffle: (a, b, lanes) => [a, b, simd(0x0d), ...lanes],
};

export const f32x4 = {
  splat: (x) => [x, simd(0x13)],
  extract_lane: (v, lane) => [v, simd(0x1f), lane],
  add: (a, b) => [a, b, simd(0xe4)],
  sub: (a, b) => [a, b, simd(0xe5)],
  mul: (a, b) => [a, b, simd(0xe6)],
  /** Relaxed SIMD: a * b + c, fused or not as the hardware prefers. */
  relaxed_madd: (a, b, c) => [a, b, c, simd(0x105)],
};

// ---- control -----------------------------------------------------------------------------------------------
export const drop = (v) => [v, 0x1a];
export const ret = (v) => [v ?? [], 0x0f];
export const br = (depth) => [0x0c, ...uleb(depth)];
export const br_if = (depth, cond) => [cond, 0x0d, ...uleb(depth)];
export const block = (...body) => [0x02, 0x40, body, 0x0b];
export const loop = (...body) => [0x03, 0x40, body, 0x0b];
export const if_ = (cond, then, els) => [cond, 0x04, 0x40, then, els ? [0x05, els] : [], 0x0b];
export const call = (fn, ...args) => [args, 0x10, ...uleb(fn.index)];

/**
 * for (init; cond; step) body. Inside body, br(0) would restart the loop without `step` and br(1) leaves it;
 * the kernel's loop bodies do not branch.
 */
export const forLoop = (init, cond, step, ...body) => [init, block(loop(br_if(1, i32.eqz(cond)), body, step, br(0)))];

/** for (v = from; v < to; v += by) — signed comparison. */
export const range = (v, from, to, by, ...body) =>
  forLoop(set(v, from), i32.lt_s(get(v), to), set(v, i32.add(get(v), by)), ...body);

// ---- module ------------------------------------------------------------------------------------------------
/**
 * Builds a module. Functions are declared first (declare()), their bodies attached later (define()), so they can
 * call each other in any order.
 */
export class ModuleBuilder {
  constructor() {
    this.types = [];
    this.funcs = [];
    this.memory = null;
  }

  importSharedMemory(module, name, minPages, maxPages) {
    this.memory = { module, name, minPages, maxPages };
  }

  typeIndex(params, results) {
    const key = `${params.join(',')}:${results.join(',')}`;
    let i = this.types.findIndex((t) => t.key === key);
    if (i < 0) {
      i = this.types.length;
      this.types.push({ key, bytes: [0x60, ...vec(params.map((p) => [p])), ...vec(results.map((r) => [r]))] });
    }
    return i;
  }

  /** Declares a function: params is [[name, type], ...]; returns { index, params: {name: local}, local(), }. */
  declare(name, params, results = [], exported = true) {
    const f = {
      name,
      exported,
      index: this.funcs.length,
      type: this.typeIndex(params.map((p) => p[1]), results),
      p: {},
      locals: [],
      nextLocal: params.length,
      body: null,
      local(type) {
        const l = { index: this.nextLocal++, type };
        this.locals.push(l);
        return l;
      },
    };
    params.forEach(([pname], i) => (f.p[pname] = { index: i }));
    this.funcs.push(f);
    return f;
  }

  define(f, body) {
    f.body = body;
  }

  bytes() {
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    out.push(...section(1, vec(this.types.map((t) => t.bytes))));
    if (this.memory) {
      const m = this.memory;
      out.push(...section(2, vec([[...str(m.module), ...str(m.name), 0x02, 0x03, ...uleb(m.minPages), ...uleb(m.maxPages)]])));
    }
    out.push(...section(3, vec(this.funcs.map((f) => uleb(f.type)))));
    const exps = this.funcs.filter((f) => f.exported).map((f) => [...str(f.name), 0x00, ...uleb(f.index)]);
    out.push(...section(7, vec(exps)));
    const bodies = this.funcs.map((f) => {
      if (!f.body) throw new Error(`function ${f.name} has no body`);
      // locals, run-length grouped by type
      const groups = [];
      for (const l of f.locals) {
        const g = groups[groups.length - 1];
        if (g && g.type === l.type) g.n++;
        else groups.push({ type: l.type, n: 1 });
      }
      const code = [...vec(groups.map((g) => [...uleb(g.n), g.type])), ...flat(f.body), 0x0b];
      return [...uleb(code.length), ...code];
    });
    out.push(...section(10, vec(bodies)));
    return new Uint8Array(out);
  }
}
