/*
 * Causal self-attention over all heads at once, on the own sgemm's micro-kernel (sgemm.h) fed straight from the
 * [B*T, H*D] layout: each head's operands are packed once into the kernel's layouts, never copied out as heads
 * (src/engine/ops/attention.ts keeps the per-head TypeScript path for prefixes and other backends). Grouped-query
 * heads: query head h reads key/value head h / (H / KVH).
 *
 *   attnScores(q, k, s, B, T, H, KVH, D, scale, threads)   s[b, h] = scale * Q_bh K_bkh^T           [T, T] each
 *   attnApply(p, v, out, B, T, H, KVH, D, threads)          out[:, h] = P_bh V_bkh                  (overwrites)
 *   attnBackward(q, k, v, p, dout, dq, dk, dv, B, T, H, KVH, D, scale, threads)
 *       dP = dO V^T, dS = P * (dP - rowsum(dP * P)) * scale, dq += dS K, dk += dS^T Q, dv += P^T dO;
 *       dq, dk, dv may be null (not needed). Rows of P beyond the causal limit are 0, so dS is 0 there too.
 *       An optional last argument `fresh` (after bf16), a bit mask (1 dq, 2 dk, 4 dv), names the gradients that are
 *       fresh buffers: they are overwritten (=) rather than added to, so they need no zeroing.
 * The row softmax between the two forward calls is the engine's (ops/native-kernels.ts softmaxRows).
 * Causal: every product runs by the kernel's row (or column) tiles over the keys those rows can see, so the tiles
 * above the diagonal are never computed. attnScores leaves entries above the diagonal unwritten or partly written:
 * the softmax reads a row's visible columns only and writes 0 beyond, which the other two read.
 * q, dout, dq: [B*T, H*D]; k, v, dk, dv: [B*T, KVH*D]; s, p: [B*H*T*T]. Every length is checked.
 * Each call takes an optional last argument bf16: true (the fastest) or a kernel index runs its products on a
 * mixed-precision kernel (operands, probabilities included, rounded to bfloat16; float32 sums), as a job in
 * precision bf16 does.
 */
#include "napi-args.h"
#include "pool.h"
#include "multiversion.h"
#include "sgemm.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { int B, T, H, KVH, D, threads; float scale; } attn_shape;

static int read_shape(napi_env env, napi_value *argv, int with_scale, attn_shape *s) {
  if (!get_dim(env, argv[0], "B", &s->B) || !get_dim(env, argv[1], "T", &s->T) || !get_dim(env, argv[2], "H", &s->H) ||
      !get_dim(env, argv[3], "KVH", &s->KVH) || !get_dim(env, argv[4], "D", &s->D))
    return 0;
  int i = 5;
  if (with_scale && !get_scalar(env, argv[i++], "scale", &s->scale)) return 0;
  if (!get_dim(env, argv[i], "threads", &s->threads)) return 0;
  if (s->threads < 1) s->threads = 1;
  if (s->B < 1 || s->T < 1 || s->D < 1 || s->KVH < 1 || s->H < s->KVH || s->H % s->KVH != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "attention: B, T, D >= 1 and H a multiple of KVH >= 1");
    return 0;
  }
  return 1;
}

/* An optional Float32Array (null/undefined gives NULL) of at least `need` elements. */
static int get_f32_opt(napi_env env, napi_value v, const char *what, uint64_t need, float **data) {
  napi_valuetype t;
  size_t len;
  if (napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined)) {
    *data = NULL;
    return 1;
  }
  return get_f32(env, v, what, need, data, &len);
}

#define QW(s) ((long)(s).H * (s).D)
#define KW(s) ((long)(s).KVH * (s).D)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* One call's arrays. Threads split the heads (pool.h): the forward one task per (sequence, query head), the
 * backward one per (sequence, key/value head), which owns that head's dk and dv and runs its query heads in order,
 * so every element is summed in the same order whatever the thread count. */
typedef struct {
  const attn_shape *s;
  const sgemm_isa *isa;
  const float *q, *k, *v, *dout;
  float *p; /* scores in, probabilities in */
  float *out, *dq, *dk, *dv;
  int fresh; /* backward: bit 0 dq, 1 dk, 2 dv are fresh buffers, overwritten rather than added to */
  atomic_int failed; /* a task could not allocate its scratch */
} attn_job;

/* ---- the products, on the sgemm micro-kernel (sgemm.h) --------------------------------------------------------
 * A head's operands are small ([T, D] with D of 64-128), so the general sgemm would spend more time packing than
 * multiplying: each operand here is packed once per head into the micro-kernel's layouts (the isa's B packer:
 * NR-wide slivers; its A packer: one MR-tall tile at a time) and the kernel is called directly, tile by tile, over
 * the causal triangle only. Every sum runs over its whole depth in one pass, in index order. The kernel is the
 * fastest float32 one, or the bf16 one when the call asks for it (operands rounded to bfloat16 as they are packed;
 * its depth is padded with zeros to whole steps, so a tile's padded keys multiply zeros of P). */

/* Per-thread scratch, grown on demand and kept (a training run repeats its shapes). */
#define ATT_BUFS 6
static __thread float *att_buf[ATT_BUFS];
static __thread size_t att_cap[ATT_BUFS];

static float *scratch(int i, size_t need) {
  if (need > att_cap[i]) {
    free(att_buf[i]);
    att_buf[i] = aligned_alloc(64, (need * sizeof(float) + 63) & ~(size_t)63);
    att_cap[i] = att_buf[i] ? need : 0;
  }
  return att_buf[i];
}

/* Floats of scratch for n rows (columns) packed R at a time, depth kc. */
static size_t packed_floats(const sgemm_isa *isa, int R, int n, int kc) {
  return ((size_t)(n + R - 1) / R * sgemm_sliver_bytes(isa, R, kc) + 3) / 4;
}

/* The packed sliver of columns j0.. (j0 a multiple of NR) of a B packed at depth kc, from depth k0 on. */
static const void *sliver(const sgemm_isa *isa, const float *packed, int j0, int kc, int k0) {
  return (const char *)packed + (size_t)(j0 / isa->nr) * sgemm_sliver_bytes(isa, isa->nr, kc) +
         (size_t)k0 * isa->nr * (isa->elem ? isa->elem : 4);
}

/* C[t, j] = alpha * A_t . B_j for the row tiles of A (op(A) rows t, depth D, packed per tile from X, stride ldx)
 * against bt (op(B) = the T keys transposed, packed at depth D), over the keys each tile sees (0 .. t0 + MR), into
 * c (stride T). */
static void causal_abt(const sgemm_isa *isa, const float *X, long ldx, const float *bt, int T, int D, float alpha,
                       float *c, float *a, int r0, int r1) {
  const int MR = isa->mr, NR = isa->nr;
  for (int t0 = r0; t0 < r1; t0 += MR) {
    const int m = MIN(MR, r1 - t0), vis = t0 + m;
    sgemm_isa_pack_a(isa, 0, X + (long)t0 * ldx, ldx, 0, m, 0, D, a);
    for (int j0 = 0; j0 < vis; j0 += NR)
      isa->kernel(D, a, sliver(isa, bt, j0, D, 0), c + (long)t0 * T + j0, T, alpha, 0.0f, m, MIN(NR, T - j0));
  }
}

/* out[t, :] (+)= P_t . V over the keys row t sees: P [T, T] row tiles (kc = the tile's visible keys) against vb
 * (op(B) = V, packed at depth T), into out (stride ldo). */
static void causal_pv(const sgemm_isa *isa, const float *P, const float *vb, int T, int D, float beta, float *out,
                      long ldo, float *a, int r0, int r1) {
  const int MR = isa->mr, NR = isa->nr;
  for (int t0 = r0; t0 < r1; t0 += MR) {
    const int m = MIN(MR, r1 - t0), vis = t0 + m;
    sgemm_isa_pack_a(isa, 0, P + (long)t0 * T, T, 0, m, 0, vis, a);
    for (int e0 = 0; e0 < D; e0 += NR)
      isa->kernel(vis, a, sliver(isa, vb, e0, T, 0), out + (long)t0 * ldo + e0, ldo, 1.0f, beta, m, MIN(NR, D - e0));
  }
}

/* out[j, :] (+)= sum over t >= j of P[t, j] X[t, :]: column tiles of P^T (rows t = j0 .. T) against xb (op(B) = X,
 * packed at depth T, read from depth j0 on: j0 is a multiple of MR, which is a multiple of the isa's kstep), into
 * out (stride ldo). */
static void causal_ptx(const sgemm_isa *isa, const float *P, const float *xb, int T, int D, float beta, float *out, long ldo,
                       float *a) {
  const int MR = isa->mr, NR = isa->nr;
  for (int j0 = 0; j0 < T; j0 += MR) {
    const int m = MIN(MR, T - j0), kc = T - j0;
    sgemm_isa_pack_a(isa, 1, P + (long)j0 * T + j0, T, 0, m, 0, kc, a);
    for (int e0 = 0; e0 < D; e0 += NR)
      isa->kernel(kc, a, sliver(isa, xb, e0, T, j0), out + (long)j0 * ldo + e0, ldo, 1.0f, beta, m, MIN(NR, D - e0));
  }
}

static void scores_task(void *arg, int i) {
  attn_job *j = arg;
  const attn_shape s = *j->s;
  const sgemm_isa *isa = j->isa;
  const int b = i / s.H, h = i % s.H, group = s.H / s.KVH;
  float *bt = scratch(0, packed_floats(isa, isa->nr, s.T, s.D)), *a = scratch(1, packed_floats(isa, isa->mr, isa->mr, s.D));
  if (!bt || !a) { atomic_store(&j->failed, 1); return; }
  if (isa->begin) isa->begin();
  sgemm_isa_pack_b(isa, 1, j->k + (long)b * s.T * KW(s) + (long)(h / group) * s.D, KW(s), 0, s.D, 0, s.T, bt);
  causal_abt(isa, j->q + (long)b * s.T * QW(s) + (long)h * s.D, QW(s), bt, s.T, s.D, s.scale,
             j->p + ((long)b * s.H + h) * s.T * s.T, a, 0, s.T);
  if (isa->end) isa->end();
}

static void apply_task(void *arg, int i) {
  attn_job *j = arg;
  const attn_shape s = *j->s;
  const sgemm_isa *isa = j->isa;
  const int b = i / s.H, h = i % s.H, group = s.H / s.KVH;
  float *vb = scratch(0, packed_floats(isa, isa->nr, s.D, s.T)), *a = scratch(1, packed_floats(isa, isa->mr, isa->mr, s.T));
  if (!vb || !a) { atomic_store(&j->failed, 1); return; }
  if (isa->begin) isa->begin();
  sgemm_isa_pack_b(isa, 0, j->v + (long)b * s.T * KW(s) + (long)(h / group) * s.D, KW(s), 0, s.T, 0, s.D, vb);
  causal_pv(isa, j->p + ((long)b * s.H + h) * s.T * s.T, vb, s.T, s.D, 0.0f,
            j->out + (long)b * s.T * QW(s) + (long)h * s.D, QW(s), a, 0, s.T);
  if (isa->end) isa->end();
}

#define LANES 16

/* Rows r0..r1 of dS = P * (dP - rowsum(dP * P)) * scale in place of dP, over columns 0..r1 (row t's sum over its
 * visible columns 0..t; P is 0 beyond them). The sum runs in LANES float lanes, in a fixed order, so it vectorises
 * and gives the same bits on every thread count. */
MULTIVERSION static void softmax_grad_rows(float *restrict dp, const float *restrict pr, int T, int r0, int r1, float scale) {
  for (int t = r0; t < r1; t++) {
    float *r = dp + (long)t * T;
    const float *pt = pr + (long)t * T;
    float acc[LANES] = {0};
    int c = 0;
    for (; c + LANES <= t + 1; c += LANES)
      for (int l = 0; l < LANES; l++) acc[l] += r[c + l] * pt[c + l];
    for (; c <= t; c++) acc[0] += r[c] * pt[c];
    float dot = 0;
    for (int l = 0; l < LANES; l++) dot += acc[l];
    for (c = 0; c < r1; c++) r[c] = pt[c] * (r[c] - dot) * scale;
  }
}

static void backward_task(void *arg, int i) {
  attn_job *j = arg;
  const attn_shape s = *j->s;
  const sgemm_isa *isa = j->isa;
  const int b = i / s.KVH, kvh = i % s.KVH, group = s.H / s.KVH, T = s.T, D = s.D, MR = isa->mr, NR = isa->nr;
  const size_t wide = packed_floats(isa, NR, D, T);
  float *vt = scratch(0, packed_floats(isa, NR, T, D)), *kb = scratch(1, wide), *xb = scratch(2, wide);
  float *a = scratch(3, packed_floats(isa, MR, MR, T > D ? T : D)), *dp = scratch(4, (size_t)T * T);
  if (!vt || !kb || !xb || !a || !dp) { atomic_store(&j->failed, 1); return; }
  if (isa->begin) isa->begin();
  const long ko = (long)b * T * KW(s) + (long)kvh * D;
  sgemm_isa_pack_b(isa, 1, j->v + ko, KW(s), 0, D, 0, T, vt); /* dP = dO V^T */
  if (j->dq) sgemm_isa_pack_b(isa, 0, j->k + ko, KW(s), 0, T, 0, D, kb); /* dq += dS K */
  for (int h = kvh * group; h < (kvh + 1) * group; h++) {
    const long qo = (long)b * T * QW(s) + (long)h * D;
    const float *pr = j->p + ((long)b * s.H + h) * T * T;
    /* dP and dS by row tiles over the keys each tile sees (P is 0 beyond the diagonal, so dS is too), then dq */
    causal_abt(isa, j->dout + qo, QW(s), vt, T, D, 1.0f, dp, a, 0, T);
    for (int t0 = 0; t0 < T; t0 += MR) softmax_grad_rows(dp, pr, T, t0, MIN(T, t0 + MR), s.scale);
    const int first = h == kvh * group; /* dk and dv of this key/value head: the first query head writes them */
    if (j->dq) causal_pv(isa, dp, kb, T, D, j->fresh & 1 ? 0.0f : 1.0f, j->dq + qo, QW(s), a, 0, T);
    /* dv += P^T dO and dk += dS^T Q, each key column tile summed over the rows that see it */
    if (j->dv) {
      sgemm_isa_pack_b(isa, 0, j->dout + qo, QW(s), 0, T, 0, D, xb);
      causal_ptx(isa, pr, xb, T, D, first && j->fresh & 4 ? 0.0f : 1.0f, j->dv + ko, KW(s), a);
    }
    if (j->dk) {
      sgemm_isa_pack_b(isa, 0, j->q + qo, QW(s), 0, T, 0, D, xb);
      causal_ptx(isa, dp, xb, T, D, first && j->fresh & 2 ? 0.0f : 1.0f, j->dk + ko, KW(s), a);
    }
  }
  if (isa->end) isa->end();
}

/* The kernel of a call, from an optional trailing argument: absent or false, the fastest float32 one; true, the
 * fastest mixed-precision one; a number, that bf16 kernel (an index into kernels()). NULL, with a JS error thrown,
 * when the processor does not run what is asked for. */
static const sgemm_isa *call_isa(napi_env env, size_t argc, napi_value *argv, size_t at, const char *fn) {
  bool bf16 = false;
  int i = -1;
  napi_valuetype t = napi_undefined;
  if (argc > at) napi_typeof(env, argv[at], &t);
  if (t == napi_boolean) napi_get_value_bool(env, argv[at], &bf16);
  if (t == napi_number) {
    napi_get_value_int32(env, argv[at], &i);
    bf16 = true;
    if (i < 0 || i >= SGEMM_NUM_ISAS || !SGEMM_ISAS[i].bf16 || !SGEMM_ISAS[i].supported()) i = -2;
  }
  if (!bf16) return &SGEMM_ISAS[sgemm_best_isa()];
  if (i == -1) i = sgemm_best_bf16_isa();
  if (i < 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: not a bf16 kernel this processor runs", fn);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  return &SGEMM_ISAS[i];
}

static napi_value js_attn_scores(napi_env env, napi_callback_info info) {
  size_t argc = 11, len;
  napi_value argv[11];
  attn_shape s;
  float *q, *k, *sc;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 10) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "attnScores takes 10 arguments"); return NULL; }
  if (!read_shape(env, argv + 3, 1, &s)) return NULL;
  const uint64_t rows = (uint64_t)s.B * s.T;
  if (!get_f32(env, argv[0], "q", rows * QW(s), &q, &len) || !get_f32(env, argv[1], "k", rows * KW(s), &k, &len) ||
      !get_f32(env, argv[2], "s", (uint64_t)s.B * s.H * s.T * s.T, &sc, &len))
    return NULL;
  const sgemm_isa *isa = call_isa(env, argc, argv, 10, "attnScores");
  if (!isa) return NULL;
  attn_job j = {.s = &s, .isa = isa, .q = q, .k = k, .p = sc};
  pool_run(s.threads, s.B * s.H, scores_task, &j);
  if (j.failed) napi_throw_error(env, "ERR_MEMORY", "attnScores: out of memory");
  return NULL;
}

static napi_value js_attn_apply(napi_env env, napi_callback_info info) {
  size_t argc = 10, len;
  napi_value argv[10];
  attn_shape s;
  float *p, *v, *out;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 9) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "attnApply takes 9 arguments"); return NULL; }
  if (!read_shape(env, argv + 3, 0, &s)) return NULL;
  const uint64_t rows = (uint64_t)s.B * s.T;
  if (!get_f32(env, argv[0], "p", (uint64_t)s.B * s.H * s.T * s.T, &p, &len) ||
      !get_f32(env, argv[1], "v", rows * KW(s), &v, &len) || !get_f32(env, argv[2], "out", rows * QW(s), &out, &len))
    return NULL;
  const sgemm_isa *isa = call_isa(env, argc, argv, 9, "attnApply");
  if (!isa) return NULL;
  attn_job j = {.s = &s, .isa = isa, .v = v, .p = p, .out = out};
  pool_run(s.threads, s.B * s.H, apply_task, &j);
  if (j.failed) napi_throw_error(env, "ERR_MEMORY", "attnApply: out of memory");
  return NULL;
}

static napi_value js_attn_backward(napi_env env, napi_callback_info info) {
  size_t argc = 17, len;
  napi_value argv[17];
  attn_shape s;
  float *q, *k, *v, *p, *dout, *dq, *dk, *dv;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 15) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "attnBackward takes 15 arguments"); return NULL; }
  if (!read_shape(env, argv + 8, 1, &s)) return NULL;
  const uint64_t rows = (uint64_t)s.B * s.T, nq = rows * QW(s), nk = rows * KW(s);
  if (!get_f32(env, argv[0], "q", nq, &q, &len) || !get_f32(env, argv[1], "k", nk, &k, &len) ||
      !get_f32(env, argv[2], "v", nk, &v, &len) ||
      !get_f32(env, argv[3], "p", (uint64_t)s.B * s.H * s.T * s.T, &p, &len) ||
      !get_f32(env, argv[4], "dout", nq, &dout, &len) || !get_f32_opt(env, argv[5], "dq", nq, &dq) ||
      !get_f32_opt(env, argv[6], "dk", nk, &dk) || !get_f32_opt(env, argv[7], "dv", nk, &dv))
    return NULL;
  const sgemm_isa *isa = call_isa(env, argc, argv, 15, "attnBackward");
  if (!isa) return NULL;
  int fresh = 0;
  napi_valuetype t;
  if (argc > 16 && napi_typeof(env, argv[16], &t) == napi_ok && t == napi_number) napi_get_value_int32(env, argv[16], &fresh);
  attn_job j = {.s = &s, .isa = isa, .q = q, .k = k, .v = v, .dout = dout, .p = p,
                .dq = dq, .dk = dk, .dv = dv, .fresh = fresh};
  pool_run(s.threads, s.B * s.KVH, backward_task, &j);
  if (j.failed) napi_throw_error(env, "ERR_MEMORY", "attnBackward: out of memory");
  return NULL;
}

void attention_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"attnScores", NULL, js_attn_scores, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attnApply", NULL, js_attn_apply, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attnBackward", NULL, js_attn_backward, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
