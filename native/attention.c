/*
 * Causal self-attention over all heads at once, on the own sgemm (sgemm.h) with row strides, so no head is ever
 * copied out of or back into the [B*T, H*D] layout (src/engine/ops/attention.ts keeps the per-head TypeScript
 * path for prefixes and other backends). Grouped-query heads: query head h reads key/value head h / (H / KVH).
 *
 *   attnScores(q, k, s, B, T, H, KVH, D, scale, threads)   s[b, h] = scale * Q_bh K_bkh^T           [T, T] each
 *   attnApply(p, v, out, B, T, H, KVH, D, threads)          out[:, h] = P_bh V_bkh                  (overwrites)
 *   attnBackward(q, k, v, p, dout, dq, dk, dv, B, T, H, KVH, D, scale, threads)
 *       dP = dO V^T, dS = P * (dP - rowsum(dP * P)) * scale, dq += dS K, dk += dS^T Q, dv += P^T dO;
 *       dq, dk, dv may be null (not needed). Rows of P beyond the causal limit are 0, so dS is 0 there too.
 * The row softmax between the two forward calls stays with the kernels addon (vectorised exp).
 * Causal: every product runs by blocks of ATT_BLOCK rows (or columns) over the keys those rows can see, so the
 * blocks above the diagonal are never computed (about 40% of the work at T = 128). attnScores leaves them unwritten:
 * the softmax reads a row's visible columns only and writes 0 beyond, which the other two read.
 * q, dout, dq: [B*T, H*D]; k, v, dk, dv: [B*T, KVH*D]; s, p: [B*H*T*T]. Every length is checked.
 */
#include "napi-args.h"
#include "pool.h"
#include "multiversion.h"
#include "sgemm.h"
#include <stdatomic.h>
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

#define ATT_BLOCK 32
#define QW(s) ((long)(s).H * (s).D)
#define KW(s) ((long)(s).KVH * (s).D)

/* One call's arrays. Threads split the heads (pool.h): the forward one task per (sequence, query head), the
 * backward one per (sequence, key/value head), which owns that head's dk and dv and runs its query heads in order,
 * so every element is summed in the same order whatever the thread count. Each gemm runs on its task's thread. */
typedef struct {
  const attn_shape *s;
  const sgemm_isa *isa;
  const float *q, *k, *v, *dout;
  float *p; /* scores in, probabilities in */
  float *out, *dq, *dk, *dv;
  atomic_int failed; /* a backward task could not allocate its scratch */
} attn_job;

static void scores_task(void *arg, int i) {
  const attn_job *j = arg;
  const attn_shape s = *j->s;
  const int b = i / s.H, h = i % s.H, group = s.H / s.KVH;
  const float *q = j->q + (long)b * s.T * QW(s) + (long)h * s.D, *k = j->k + (long)b * s.T * KW(s) + (long)(h / group) * s.D;
  float *p = j->p + ((long)b * s.H + h) * s.T * s.T;
  for (int r0 = 0; r0 < s.T; r0 += ATT_BLOCK) { /* rows r0..r1 see keys 0..r1 */
    const int r1 = r0 + ATT_BLOCK < s.T ? r0 + ATT_BLOCK : s.T;
    sgemm_run_ld(j->isa, 1, 0, 1, r1 - r0, r1, s.D, s.scale, q + (long)r0 * QW(s), QW(s), k, KW(s), 0.0f, p + (long)r0 * s.T, s.T);
  }
}

static void apply_task(void *arg, int i) {
  const attn_job *j = arg;
  const attn_shape s = *j->s;
  const int b = i / s.H, h = i % s.H, group = s.H / s.KVH;
  const float *p = j->p + ((long)b * s.H + h) * s.T * s.T, *v = j->v + (long)b * s.T * KW(s) + (long)(h / group) * s.D;
  float *out = j->out + (long)b * s.T * QW(s) + (long)h * s.D;
  for (int r0 = 0; r0 < s.T; r0 += ATT_BLOCK) {
    const int r1 = r0 + ATT_BLOCK < s.T ? r0 + ATT_BLOCK : s.T;
    sgemm_run_ld(j->isa, 1, 0, 0, r1 - r0, s.D, r1, 1.0f, p + (long)r0 * s.T, s.T, v, KW(s), 0.0f, out + (long)r0 * QW(s), QW(s));
  }
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

/* The backward's dP [T, T] of each thread, grown on demand and kept (a training run repeats its shapes). */
static __thread float *dp_buf;
static __thread size_t dp_cap;

static void backward_task(void *arg, int i) {
  attn_job *j = arg;
  const attn_shape s = *j->s;
  const size_t need = (size_t)s.T * s.T;
  if (need > dp_cap) {
    free(dp_buf);
    dp_buf = malloc(sizeof(float) * need);
    dp_cap = dp_buf ? need : 0;
    if (!dp_buf) { atomic_store(&j->failed, 1); return; }
  }
  float *dp = dp_buf;
  const int b = i / s.KVH, kvh = i % s.KVH, group = s.H / s.KVH, T = s.T;
  for (int h = kvh * group; h < (kvh + 1) * group; h++) {
    const long qo = (long)b * T * QW(s) + (long)h * s.D, ko = (long)b * T * KW(s) + (long)kvh * s.D;
    const float *pr = j->p + ((long)b * s.H + h) * T * T;
    /* Row block r0..r1 of dP and dS is computed over columns 0..r1 (P is 0 beyond the diagonal, so dS is too);
     * column block c0..c1 of dv and dk sums over rows c0..T (the rows that see those keys). */
    for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
      const int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T;
      sgemm_run_ld(j->isa, 1, 0, 1, r1 - r0, r1, s.D, 1.0f, j->dout + qo + (long)r0 * QW(s), QW(s), j->v + ko, KW(s), 0.0f, dp + (long)r0 * T, T);
      softmax_grad_rows(dp, pr, T, r0, r1, s.scale);
      if (j->dq) sgemm_run_ld(j->isa, 1, 0, 0, r1 - r0, s.D, r1, 1.0f, dp + (long)r0 * T, T, j->k + ko, KW(s), 1.0f, j->dq + qo + (long)r0 * QW(s), QW(s));
    }
    for (int c0 = 0; c0 < T; c0 += ATT_BLOCK) {
      const int c1 = c0 + ATT_BLOCK < T ? c0 + ATT_BLOCK : T;
      const long at = (long)c0 * T + c0;
      if (j->dv) sgemm_run_ld(j->isa, 1, 1, 0, c1 - c0, s.D, T - c0, 1.0f, pr + at, T, j->dout + qo + (long)c0 * QW(s), QW(s), 1.0f, j->dv + ko + (long)c0 * KW(s), KW(s));
      if (j->dk) sgemm_run_ld(j->isa, 1, 1, 0, c1 - c0, s.D, T - c0, 1.0f, dp + at, T, j->q + qo + (long)c0 * QW(s), QW(s), 1.0f, j->dk + ko + (long)c0 * KW(s), KW(s));
    }
  }
}

static napi_value js_attn_scores(napi_env env, napi_callback_info info) {
  size_t argc = 10, len;
  napi_value argv[10];
  attn_shape s;
  float *q, *k, *sc;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 10) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "attnScores takes 10 arguments"); return NULL; }
  if (!read_shape(env, argv + 3, 1, &s)) return NULL;
  const uint64_t rows = (uint64_t)s.B * s.T;
  if (!get_f32(env, argv[0], "q", rows * QW(s), &q, &len) || !get_f32(env, argv[1], "k", rows * KW(s), &k, &len) ||
      !get_f32(env, argv[2], "s", (uint64_t)s.B * s.H * s.T * s.T, &sc, &len))
    return NULL;
  attn_job j = {.s = &s, .isa = &SGEMM_ISAS[sgemm_best_isa()], .q = q, .k = k, .p = sc};
  pool_run(s.threads, s.B * s.H, scores_task, &j);
  return NULL;
}

static napi_value js_attn_apply(napi_env env, napi_callback_info info) {
  size_t argc = 9, len;
  napi_value argv[9];
  attn_shape s;
  float *p, *v, *out;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 9) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "attnApply takes 9 arguments"); return NULL; }
  if (!read_shape(env, argv + 3, 0, &s)) return NULL;
  const uint64_t rows = (uint64_t)s.B * s.T;
  if (!get_f32(env, argv[0], "p", (uint64_t)s.B * s.H * s.T * s.T, &p, &len) ||
      !get_f32(env, argv[1], "v", rows * KW(s), &v, &len) || !get_f32(env, argv[2], "out", rows * QW(s), &out, &len))
    return NULL;
  attn_job j = {.s = &s, .isa = &SGEMM_ISAS[sgemm_best_isa()], .v = v, .p = p, .out = out};
  pool_run(s.threads, s.B * s.H, apply_task, &j);
  return NULL;
}

static napi_value js_attn_backward(napi_env env, napi_callback_info info) {
  size_t argc = 15, len;
  napi_value argv[15];
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
  attn_job j = {.s = &s, .isa = &SGEMM_ISAS[sgemm_best_isa()], .q = q, .k = k, .v = v, .dout = dout, .p = p,
                .dq = dq, .dk = dk, .dv = dv};
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
