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
 * q, dout, dq: [B*T, H*D]; k, v, dk, dv: [B*T, KVH*D]; s, p: [B*H*T*T]. Every length is checked.
 */
#include "napi-args.h"
#include "pool.h"
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
  sgemm_run_ld(j->isa, 1, 0, 1, s.T, s.T, s.D, s.scale, j->q + (long)b * s.T * QW(s) + (long)h * s.D, QW(s),
               j->k + (long)b * s.T * KW(s) + (long)(h / group) * s.D, KW(s), 0.0f,
               j->p + ((long)b * s.H + h) * s.T * s.T, s.T);
}

static void apply_task(void *arg, int i) {
  const attn_job *j = arg;
  const attn_shape s = *j->s;
  const int b = i / s.H, h = i % s.H, group = s.H / s.KVH;
  sgemm_run_ld(j->isa, 1, 0, 0, s.T, s.D, s.T, 1.0f, j->p + ((long)b * s.H + h) * s.T * s.T, s.T,
               j->v + (long)b * s.T * KW(s) + (long)(h / group) * s.D, KW(s), 0.0f,
               j->out + (long)b * s.T * QW(s) + (long)h * s.D, QW(s));
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
    sgemm_run_ld(j->isa, 1, 0, 1, T, T, s.D, 1.0f, j->dout + qo, QW(s), j->v + ko, KW(s), 0.0f, dp, T);
    if (j->dv) sgemm_run_ld(j->isa, 1, 1, 0, T, s.D, T, 1.0f, pr, T, j->dout + qo, QW(s), 1.0f, j->dv + ko, KW(s));
    for (int t = 0; t < T; t++) {
      float *r = dp + (long)t * T;
      const float *pt = pr + (long)t * T;
      double dot = 0;
      for (int c = 0; c < T; c++) dot += (double)r[c] * pt[c];
      for (int c = 0; c < T; c++) r[c] = pt[c] * (r[c] - (float)dot) * s.scale;
    }
    if (j->dq) sgemm_run_ld(j->isa, 1, 0, 0, T, s.D, T, 1.0f, dp, T, j->k + ko, KW(s), 1.0f, j->dq + qo, QW(s));
    if (j->dk) sgemm_run_ld(j->isa, 1, 1, 0, T, s.D, T, 1.0f, dp, T, j->q + qo, QW(s), 1.0f, j->dk + ko, KW(s));
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
