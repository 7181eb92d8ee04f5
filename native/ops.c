/*
 * The row kernels of a training step in C, split over the job's threads through the addon's pool (pool.h), for the
 * ops whose TypeScript loops (src/engine/ops/, src/engine/optim.ts) were the step's time outside the gemm. Each
 * TypeScript loop stays as the portable path; test/engine/native-ops.test.ts holds the two side by side.
 *
 * JS API (every array a Float32Array unless named Int32Array; `threads` >= 1; shapes as in the TypeScript ops):
 *   rmsnormForward(x, w, out, rstd, N, C, eps, threads)     out = x * rstd * w per row; rstd[n] = 1/sqrt(ms + eps)
 *   rmsnormBackward(x, w, rstd, dy, dx, dw, N, C, threads)  dx += ..., dw += ... (dx or dw may be null)
 *   swigluForward(gate, up, out, sig, n, threads)           sig = sigmoid(gate) (sig may be null), out = g*sig*u
 *   swigluBackward(gate, up, sig, dy, dg, du, n, threads[, fresh_dg, fresh_du])
 *       dg, du += ... (either may be null); a fresh one (true) is overwritten instead, as if it held zeros
 *   softmaxRows(x, y, rows, cols, causalOffset, period, logz, threads)
 *       y[r] = softmax of x[r]'s first visible(r) columns, 0 beyond (x and y may be the same array); visible(r) =
 *       cols when causalOffset < 0, else min(cols, causalOffset + r % period + 1) (period: rows per attention
 *       head); logz (or null) receives max + log(sum) per row
 *   rope(src, dst, positions: Int32Array, cos, sin, H, D, dir, accumulate, threads)
 *       rotates adjacent pairs of every head by the table's angle for the row's position (dir -1: backward);
 *       cos, sin: [maxPos, D/2]; accumulate adds into dst
 *   embeddingBackward(dy, ids: Int32Array, grad, N, C, threads)   grad[ids[n]] += dy[n]
 *   crossEntropyBackward(probs, labels: Int32Array, dx, N, V, g, accumulate, threads)
 *       dx[n] += g * probs[n], dx[n, label] -= g, for rows whose label is not -100; with accumulate false, dx is
 *       overwritten instead (ignored rows get 0)
 *   scale(x, n, s, threads)                                 x *= s (float times double, rounded to float)
 *   widenBf16(src: Uint16Array, dst, n, threads)            dst[i] = the bf16 bits src[i] as a float (exact)
 *   addScaled(a, b, out, n, s, threads)                     out = a + s * b (residuals)
 *   accumulate(dst, src, n, s, threads)                     dst += s * src (gradients)
 *       both in double with one rounding to float, as the TypeScript loops compute them, so the same bits
 *   adamw(p, g, m, v, b1, b2, eps, decay, stepSize, bc2Sqrt, threads)   AdamW in float32 as PyTorch computes it
 *   sumSquares(x, n, threads)                               sum of x[i]^2 in double (per fixed block, then in
 *       block order), returned
 *
 * Results do not depend on the thread count: rows (or elements, or columns for the embedding) are split between
 * threads and every output element is computed by one thread in a fixed order; rmsnormBackward's dw adds per-block
 * partial sums of fixed 64-row blocks in block order. The sums run in 16 float lanes (vectorised without
 * reassociation: no -ffast-math), the exp in swiglu and the softmax is a polynomial of ~2 ulp (exp_lanes) so it vectorises
 * everywhere; all within float rounding of the TypeScript loops. Compiled without FMA contraction, so every
 * instruction set gives the same bits. Every length is checked; nothing is read or written out of bounds.
 */
#include "napi-args.h"
#include "pool.h"
#include "multiversion.h"
#include <stdlib.h>
#include <string.h>


#define LANES 16
#define MIN_PARALLEL 32768L /* elements below which one thread does it all */
#define DW_BLOCK 64         /* rows per partial sum of rmsnormBackward's dw */

static int threads_for(long work, int threads) { return work < MIN_PARALLEL ? 1 : threads; }

/* ---- argument readers ------------------------------------------------------------------------------------- */

static int get_f32_or_null(napi_env env, napi_value v, const char *what, uint64_t need, float **data) {
  napi_valuetype t;
  size_t len;
  if (napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined)) {
    *data = NULL;
    return 1;
  }
  return get_f32(env, v, what, need, data, &len);
}

/* A typed array of `type` (named `type_name` in the error) with at least `need` elements. */
static int get_typed(napi_env env, napi_value v, const char *what, uint64_t need, napi_typedarray_type want,
                     const char *type_name, void **data) {
  bool is = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = NULL;
  char msg[160];
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, &length, &ptr, NULL, NULL) != napi_ok || type != want) {
    snprintf(msg, sizeof msg, "%s must be %s", what, type_name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  if ((uint64_t)length < need) {
    snprintf(msg, sizeof msg, "%s has %zu elements, needs %llu", what, length, (unsigned long long)need);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *data = ptr;
  return 1;
}

static int get_u16(napi_env env, napi_value v, const char *what, uint64_t need, uint16_t **data) {
  return get_typed(env, v, what, need, napi_uint16_array, "a Uint16Array", (void **)data);
}

static int get_i32(napi_env env, napi_value v, const char *what, uint64_t need, int32_t **data) {
  return get_typed(env, v, what, need, napi_int32_array, "an Int32Array", (void **)data);
}

static int get_double(napi_env env, napi_value v, const char *what, double *out) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  return 1;
}

static int get_threads(napi_env env, napi_value v, int *threads) {
  if (!get_dim(env, v, "threads", threads)) return 0;
  if (*threads < 1) *threads = 1;
  return 1;
}

/* At least `want` arguments into argv (room for `cap`); *got: how many were passed (at most cap). */
static int args_upto(napi_env env, napi_callback_info info, size_t want, size_t cap, napi_value *argv, size_t *got,
                     const char *usage) {
  *got = cap;
  if (napi_get_cb_info(env, info, got, argv, NULL, NULL) != napi_ok || *got < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", usage);
    return 0;
  }
  if (*got > cap) *got = cap;
  return 1;
}

static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t got;
  return args_upto(env, info, want, want, argv, &got, usage);
}

/* Optional argument `at` as a boolean (absent or not a boolean: false). */
static bool opt_bool(napi_env env, size_t argc, napi_value *argv, size_t at) {
  napi_valuetype t;
  bool b = false;
  if (argc > at && napi_typeof(env, argv[at], &t) == napi_ok && t == napi_boolean) napi_get_value_bool(env, argv[at], &b);
  return b;
}

/* [lo, hi) of `n` items for part i of `parts` */
#define PART_RANGE(n, parts, i, lo, hi) \
  const long lo = (long)((n) * (i) / (parts)), hi = (long)((n) * ((i) + 1) / (parts))

/* ---- RMSNorm ------------------------------------------------------------------------------------------------ */

/* sum of x[i] * y[i] in LANES float lanes, then the lanes in order */
static inline float dot_lanes(const float *x, const float *y, long n) {
  float acc[LANES] = {0};
  long i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += x[i + l] * y[i + l];
  for (; i < n; i++) acc[0] += x[i] * y[i];
  float s = 0;
  for (int l = 0; l < LANES; l++) s += acc[l];
  return s;
}

typedef struct {
  const float *x, *w, *rstd, *dy;
  float *out, *rs, *dx, *dw, *partial;
  long N, C;
  float eps;
  int parts;
} rms_job;

MULTIVERSION static void rms_forward_rows(const float *restrict x, const float *restrict w, float *restrict out,
                                          float *restrict rstd, long n0, long n1, long C, float eps) {
  for (long n = n0; n < n1; n++) {
    const float *xr = x + n * C;
    float *o = out + n * C;
    const float s = 1.0f / sqrtf(dot_lanes(xr, xr, C) / (float)C + eps);
    rstd[n] = s;
    for (long c = 0; c < C; c++) o[c] = xr[c] * s * w[c];
  }
}

static void rms_forward_task(void *arg, int i) {
  const rms_job *j = arg;
  PART_RANGE(j->N, j->parts, i, lo, hi);
  rms_forward_rows(j->x, j->w, j->out, j->rs, lo, hi, j->C, j->eps);
}

static napi_value js_rmsnorm_forward(napi_env env, napi_callback_info info) {
  napi_value a[8];
  int N, C, threads;
  float eps, *x, *w, *out, *rstd;
  size_t len;
  if (!args(env, info, 8, a, "rmsnormForward(x, w, out, rstd, N, C, eps, threads) takes 8 arguments")) return NULL;
  if (!get_dim(env, a[4], "N", &N) || !get_dim(env, a[5], "C", &C) || !get_scalar(env, a[6], "eps", &eps) ||
      !get_threads(env, a[7], &threads))
    return NULL;
  const uint64_t n = (uint64_t)N * C;
  if (!get_f32(env, a[0], "rmsnorm x", n, &x, &len) || !get_f32(env, a[1], "rmsnorm w", C, &w, &len) ||
      !get_f32(env, a[2], "rmsnorm out", n, &out, &len) || !get_f32(env, a[3], "rmsnorm rstd", N, &rstd, &len))
    return NULL;
  rms_job j = {.x = x, .w = w, .out = out, .rs = rstd, .N = N, .C = C, .eps = eps};
  j.parts = threads_for((long)n, threads);
  pool_run(j.parts, j.parts, rms_forward_task, &j);
  return NULL;
}

/* dx rows n0..n1 and, when dwp is given, this block's dw partial sums (overwritten) */
MULTIVERSION static void rms_backward_rows(const float *restrict x, const float *restrict w, const float *restrict rstd,
                                           const float *restrict dy, float *restrict dx, float *restrict dwp, long n0,
                                           long n1, long C) {
  if (dwp) memset(dwp, 0, sizeof(float) * C);
  for (long n = n0; n < n1; n++) {
    const float *xr = x + n * C, *g = dy + n * C;
    const float s = rstd[n];
    if (dwp)
      for (long c = 0; c < C; c++) dwp[c] += g[c] * (xr[c] * s);
    if (dx) {
      /* sum_c dy * w * xhat = s * sum_c (dy * w) * x */
      float acc[LANES] = {0};
      long c = 0;
      for (; c + LANES <= C; c += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += g[c + l] * w[c + l] * (xr[c + l] * s);
      for (; c < C; c++) acc[0] += g[c] * w[c] * (xr[c] * s);
      float dot = 0;
      for (int l = 0; l < LANES; l++) dot += acc[l];
      const float m = dot / (float)C;
      float *d = dx + n * C;
      for (long c2 = 0; c2 < C; c2++) d[c2] += s * (g[c2] * w[c2] - xr[c2] * s * m);
    }
  }
}

static void rms_backward_task(void *arg, int b) {
  const rms_job *j = arg;
  const long n0 = (long)b * DW_BLOCK, n1 = n0 + DW_BLOCK < j->N ? n0 + DW_BLOCK : j->N;
  rms_backward_rows(j->x, j->w, j->rstd, j->dy, j->dx, j->partial ? j->partial + (long)b * j->C : NULL, n0, n1, j->C);
}

static napi_value js_rmsnorm_backward(napi_env env, napi_callback_info info) {
  napi_value a[9];
  int N, C, threads;
  float *x, *w, *rstd, *dy, *dx, *dw;
  size_t len;
  if (!args(env, info, 9, a, "rmsnormBackward(x, w, rstd, dy, dx, dw, N, C, threads) takes 9 arguments")) return NULL;
  if (!get_dim(env, a[6], "N", &N) || !get_dim(env, a[7], "C", &C) || !get_threads(env, a[8], &threads)) return NULL;
  const uint64_t n = (uint64_t)N * C;
  if (!get_f32(env, a[0], "rmsnorm x", n, &x, &len) || !get_f32(env, a[1], "rmsnorm w", C, &w, &len) ||
      !get_f32(env, a[2], "rmsnorm rstd", N, &rstd, &len) || !get_f32(env, a[3], "rmsnorm dy", n, &dy, &len) ||
      !get_f32_or_null(env, a[4], "rmsnorm dx", n, &dx) || !get_f32_or_null(env, a[5], "rmsnorm dw", C, &dw))
    return NULL;
  if (N == 0 || C == 0 || (!dx && !dw)) return NULL;
  const int blocks = (N + DW_BLOCK - 1) / DW_BLOCK;
  rms_job j = {.x = x, .w = w, .rstd = rstd, .dy = dy, .dx = dx, .N = N, .C = C};
  if (dw) {
    j.partial = malloc(sizeof(float) * (size_t)blocks * C);
    if (!j.partial) { napi_throw_error(env, "ERR_MEMORY", "rmsnormBackward: out of memory"); return NULL; }
  }
  pool_run(threads_for((long)n, threads), blocks, rms_backward_task, &j);
  if (dw) {
    for (int b = 0; b < blocks; b++) {
      const float *p = j.partial + (long)b * C;
      for (long c = 0; c < C; c++) dw[c] += p[c];
    }
    free(j.partial);
  }
  return NULL;
}

/* ---- SwiGLU ------------------------------------------------------------------------------------------------- */

/* exp(x) for x in [-87, 88] within ~2 ulp: x = k ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor-Horner
 * polynomial, times 2^k through the exponent bits. Branch-free, so the compiler vectorises a loop of it. */
static inline float exp_lanes(float x) {
  x = x > -87.0f ? x : -87.0f; /* the forms of maxps / minps, so no branch remains */
  x = x < 88.0f ? x : 88.0f;
  const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  const float kf = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = (x - kf * 0.693145751953125f) - kf * 1.428606765330187045e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits;
  memcpy(&bits, &p, 4);
  bits += (int32_t)kf << 23;
  memcpy(&p, &bits, 4);
  return p;
}

typedef struct {
  const float *g, *u, *sig_in, *dy;
  float *out, *sig, *dg, *du;
  long n;
  int parts;
  bool fresh_dg, fresh_du; /* overwrite: 0 + the term, the bits a zeroed gradient would get */
} swiglu_job;

static inline float sigmoid_lanes(float x) { return 1.0f / (1.0f + exp_lanes(-x)); }

#define SWIGLU_BLOCK 256

/* The sigmoid runs alone over a block into a stack buffer, then the products: fused in one loop, GCC 12's vector
 * code (masked merges for the clamp feeding the multiply) ran 6x slower than the two loops. */
MULTIVERSION static void swiglu_forward_range(const float *restrict g, const float *restrict u, float *restrict out,
                                              float *restrict sig, long i0, long i1) {
  float s[SWIGLU_BLOCK];
  for (long b = i0; b < i1; b += SWIGLU_BLOCK) {
    const long m = i1 - b < SWIGLU_BLOCK ? i1 - b : SWIGLU_BLOCK;
    const float *gb = g + b, *ub = u + b;
    for (long i = 0; i < m; i++) s[i] = sigmoid_lanes(gb[i]);
    if (sig) memcpy(sig + b, s, sizeof(float) * (size_t)m);
    for (long i = 0; i < m; i++) out[b + i] = gb[i] * s[i] * ub[i];
  }
}

static void swiglu_forward_task(void *arg, int i) {
  const swiglu_job *j = arg;
  PART_RANGE(j->n, j->parts, i, lo, hi);
  swiglu_forward_range(j->g, j->u, j->out, j->sig, lo, hi);
}

static napi_value js_swiglu_forward(napi_env env, napi_callback_info info) {
  napi_value a[6];
  int n, threads;
  float *g, *u, *out, *sig;
  size_t len;
  if (!args(env, info, 6, a, "swigluForward(gate, up, out, sig, n, threads) takes 6 arguments")) return NULL;
  if (!get_dim(env, a[4], "n", &n) || !get_threads(env, a[5], &threads)) return NULL;
  if (!get_f32(env, a[0], "swiglu gate", n, &g, &len) || !get_f32(env, a[1], "swiglu up", n, &u, &len) ||
      !get_f32(env, a[2], "swiglu out", n, &out, &len) || !get_f32_or_null(env, a[3], "swiglu sig", n, &sig))
    return NULL;
  swiglu_job j = {.g = g, .u = u, .out = out, .sig = sig, .n = n, .parts = threads_for(n, threads)};
  pool_run(j.parts, j.parts, swiglu_forward_task, &j);
  return NULL;
}

MULTIVERSION static void swiglu_backward_range(const float *restrict g, const float *restrict u,
                                               const float *restrict sig, const float *restrict dy, float *restrict dg,
                                               float *restrict du, bool fresh_dg, bool fresh_du, long i0, long i1) {
  if (du && fresh_du)
    for (long i = i0; i < i1; i++) du[i] = 0.0f + dy[i] * g[i] * sig[i];
  else if (du)
    for (long i = i0; i < i1; i++) du[i] += dy[i] * g[i] * sig[i];
  if (dg && fresh_dg)
    for (long i = i0; i < i1; i++) dg[i] = 0.0f + dy[i] * u[i] * sig[i] * (1.0f + g[i] * (1.0f - sig[i]));
  else if (dg)
    for (long i = i0; i < i1; i++) dg[i] += dy[i] * u[i] * sig[i] * (1.0f + g[i] * (1.0f - sig[i]));
}

static void swiglu_backward_task(void *arg, int i) {
  const swiglu_job *j = arg;
  PART_RANGE(j->n, j->parts, i, lo, hi);
  swiglu_backward_range(j->g, j->u, j->sig_in, j->dy, j->dg, j->du, j->fresh_dg, j->fresh_du, lo, hi);
}

static napi_value js_swiglu_backward(napi_env env, napi_callback_info info) {
  napi_value a[10];
  int n, threads;
  float *g, *u, *sig, *dy, *dg, *du;
  size_t len, argc;
  if (!args_upto(env, info, 8, 10, a, &argc, "swigluBackward(gate, up, sig, dy, dg, du, n, threads) takes 8 arguments"))
    return NULL;
  if (!get_dim(env, a[6], "n", &n) || !get_threads(env, a[7], &threads)) return NULL;
  if (!get_f32(env, a[0], "swiglu gate", n, &g, &len) || !get_f32(env, a[1], "swiglu up", n, &u, &len) ||
      !get_f32(env, a[2], "swiglu sig", n, &sig, &len) || !get_f32(env, a[3], "swiglu dy", n, &dy, &len) ||
      !get_f32_or_null(env, a[4], "swiglu dg", n, &dg) || !get_f32_or_null(env, a[5], "swiglu du", n, &du))
    return NULL;
  swiglu_job j = {.g = g, .u = u, .sig_in = sig, .dy = dy, .dg = dg, .du = du, .n = n, .parts = threads_for(n, threads),
                  .fresh_dg = opt_bool(env, argc, a, 8), .fresh_du = opt_bool(env, argc, a, 9)};
  pool_run(j.parts, j.parts, swiglu_backward_task, &j);
  return NULL;
}

/* ---- row softmax ------------------------------------------------------------------------------------------ */

typedef struct {
  const float *x;
  float *y, *logz;
  long rows, cols, offset, period;
  int parts;
} softmax_job;

/* y = exp(x - max) / sum over the row's first `visible` columns, 0 beyond; logz = max + log(sum) */
MULTIVERSION static void softmax_rows(const float *x, float *y, float *logz, long r0, long r1, long cols,
                                      long offset, long period) {
  for (long r = r0; r < r1; r++) {
    const long vis = offset < 0 ? cols : (offset + r % period + 1 < cols ? offset + r % period + 1 : cols);
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    float mx[LANES];
    for (int l = 0; l < LANES; l++) mx[l] = xr[0];
    long j = 0;
    for (; j + LANES <= vis; j += LANES)
      for (int l = 0; l < LANES; l++) mx[l] = xr[j + l] > mx[l] ? xr[j + l] : mx[l];
    for (; j < vis; j++) mx[0] = xr[j] > mx[0] ? xr[j] : mx[0];
    float m = mx[0];
    for (int l = 1; l < LANES; l++) m = mx[l] > m ? mx[l] : m;
    float acc[LANES] = {0};
    for (j = 0; j + LANES <= vis; j += LANES)
      for (int l = 0; l < LANES; l++) {
        const float e = exp_lanes(xr[j + l] - m);
        yr[j + l] = e;
        acc[l] += e;
      }
    for (; j < vis; j++) {
      const float e = exp_lanes(xr[j] - m);
      yr[j] = e;
      acc[0] += e;
    }
    float sum = 0;
    for (int l = 0; l < LANES; l++) sum += acc[l];
    const float inv = 1.0f / sum;
    for (j = 0; j < vis; j++) yr[j] *= inv;
    for (j = vis; j < cols; j++) yr[j] = 0.0f;
    if (logz) logz[r] = m + logf(sum);
  }
}

static void softmax_task(void *arg, int i) {
  const softmax_job *j = arg;
  PART_RANGE(j->rows, j->parts, i, lo, hi);
  softmax_rows(j->x, j->y, j->logz, lo, hi, j->cols, j->offset, j->period);
}

static napi_value js_softmax_rows(napi_env env, napi_callback_info info) {
  napi_value a[8];
  int rows, cols, period, threads;
  double offset;
  float *x, *y, *logz;
  size_t len;
  if (!args(env, info, 8, a, "softmaxRows(x, y, rows, cols, causalOffset, period, logz, threads) takes 8 arguments"))
    return NULL;
  if (!get_dim(env, a[2], "rows", &rows) || !get_dim(env, a[3], "cols", &cols) ||
      !get_double(env, a[4], "causalOffset", &offset) || !get_dim(env, a[5], "period", &period) ||
      !get_threads(env, a[7], &threads))
    return NULL;
  if (cols < 1 || period < 1 || offset != floor(offset) || offset < -1 || offset > 2147483647.0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "softmaxRows: cols >= 1, period >= 1 and causalOffset an integer >= -1");
    return NULL;
  }
  const uint64_t n = (uint64_t)rows * cols;
  if (!get_f32(env, a[0], "softmax x", n, &x, &len) || !get_f32(env, a[1], "softmax y", n, &y, &len) ||
      !get_f32_or_null(env, a[6], "softmax logz", rows, &logz))
    return NULL;
  softmax_job j = {.x = x, .y = y, .logz = logz, .rows = rows, .cols = cols, .offset = (long)offset, .period = period,
                   .parts = threads_for((long)n, threads)};
  pool_run(j.parts, j.parts, softmax_task, &j);
  return NULL;
}

/* ---- RoPE --------------------------------------------------------------------------------------------------- */

typedef struct {
  const float *src, *cos, *sin;
  float *dst;
  const int32_t *pos;
  long N, H, D;
  float dir;
  int accumulate, parts;
} rope_job;

MULTIVERSION static void rope_rows(const float *restrict src, float *restrict dst, const int32_t *restrict pos,
                                   const float *restrict cos, const float *restrict sin, long n0, long n1, long H,
                                   long D, float dir, int accumulate) {
  const long half = D / 2, W = H * D;
  for (long n = n0; n < n1; n++) {
    const float *cs = cos + (long)pos[n] * half, *sn = sin + (long)pos[n] * half;
    for (long h = 0; h < H; h++) {
      const float *s = src + n * W + h * D;
      float *d = dst + n * W + h * D;
      if (accumulate)
        for (long i = 0; i < half; i++) {
          const float c = cs[i], si = dir * sn[i], a = s[2 * i], b = s[2 * i + 1];
          d[2 * i] += a * c - b * si;
          d[2 * i + 1] += a * si + b * c;
        }
      else
        for (long i = 0; i < half; i++) {
          const float c = cs[i], si = dir * sn[i], a = s[2 * i], b = s[2 * i + 1];
          d[2 * i] = a * c - b * si;
          d[2 * i + 1] = a * si + b * c;
        }
    }
  }
}

static void rope_task(void *arg, int i) {
  const rope_job *j = arg;
  PART_RANGE(j->N, j->parts, i, lo, hi);
  rope_rows(j->src, j->dst, j->pos, j->cos, j->sin, lo, hi, j->H, j->D, j->dir, j->accumulate);
}

static napi_value js_rope(napi_env env, napi_callback_info info) {
  napi_value a[10];
  int H, D, threads;
  float *src, *dst, *cs, *sn;
  int32_t *pos;
  double dir;
  bool acc;
  size_t lsrc, lcos, lsin, npos;
  if (!args(env, info, 10, a, "rope(src, dst, positions, cos, sin, H, D, dir, accumulate, threads) takes 10 arguments"))
    return NULL;
  if (!get_dim(env, a[5], "H", &H) || !get_dim(env, a[6], "D", &D) || !get_double(env, a[7], "dir", &dir) ||
      !get_threads(env, a[9], &threads))
    return NULL;
  if (napi_get_value_bool(env, a[8], &acc) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "rope: accumulate must be a boolean");
    return NULL;
  }
  if (D % 2 != 0 || D == 0 || H == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "rope: H >= 1 and an even D >= 2");
    return NULL;
  }
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, a[2], &type, &npos, NULL, NULL, NULL) != napi_ok) npos = 0;
  if (!get_i32(env, a[2], "rope positions", 0, &pos)) return NULL;
  const uint64_t n = (uint64_t)npos * H * D;
  if (!get_f32(env, a[0], "rope src", n, &src, &lsrc) || !get_f32(env, a[1], "rope dst", n, &dst, &lsrc) ||
      !get_f32(env, a[3], "rope cos", 0, &cs, &lcos) || !get_f32(env, a[4], "rope sin", 0, &sn, &lsin))
    return NULL;
  const long half = D / 2, rows = (long)(lcos < lsin ? lcos : lsin) / half;
  for (size_t i = 0; i < npos; i++)
    if (pos[i] < 0 || pos[i] >= rows) {
      char msg[128];
      snprintf(msg, sizeof msg, "rope: position %d at row %zu is outside the table (0..%ld)", pos[i], i, rows - 1);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return NULL;
    }
  rope_job j = {.src = src, .cos = cs, .sin = sn, .dst = dst, .pos = pos, .N = (long)npos, .H = H, .D = D,
                .dir = (float)dir, .accumulate = acc, .parts = threads_for((long)n, threads)};
  pool_run(j.parts, j.parts, rope_task, &j);
  return NULL;
}

/* ---- embedding backward, cross-entropy backward, scale ------------------------------------------------------ */

typedef struct {
  const float *src;
  const int32_t *idx;
  float *dst;
  long N, C;
  float g;
  double s;
  int accumulate, parts;
} rows_job;

/* columns [c0, c1) of every row: each thread owns its columns, rows added in order */
MULTIVERSION static void embed_cols(const float *restrict src, const int32_t *restrict idx, float *restrict dst,
                                    long N, long C, long c0, long c1) {
  for (long n = 0; n < N; n++) {
    float *d = dst + (long)idx[n] * C;
    const float *s = src + n * C;
    for (long c = c0; c < c1; c++) d[c] += s[c];
  }
}

static void embed_task(void *arg, int i) {
  const rows_job *j = arg;
  PART_RANGE(j->C, j->parts, i, lo, hi);
  embed_cols(j->src, j->idx, j->dst, j->N, j->C, lo, hi);
}

static napi_value js_embedding_backward(napi_env env, napi_callback_info info) {
  napi_value a[6];
  int N, C, threads;
  float *dy, *grad;
  int32_t *ids;
  size_t lgrad, len;
  if (!args(env, info, 6, a, "embeddingBackward(dy, ids, grad, N, C, threads) takes 6 arguments")) return NULL;
  if (!get_dim(env, a[3], "N", &N) || !get_dim(env, a[4], "C", &C) || !get_threads(env, a[5], &threads)) return NULL;
  if (!get_f32(env, a[0], "embedding dy", (uint64_t)N * C, &dy, &len) || !get_i32(env, a[1], "embedding ids", N, &ids) ||
      !get_f32(env, a[2], "embedding grad", 0, &grad, &lgrad))
    return NULL;
  const long V = C ? (long)(lgrad / (size_t)C) : 0;
  for (long n = 0; n < N; n++)
    if (ids[n] < 0 || ids[n] >= V) {
      char msg[128];
      snprintf(msg, sizeof msg, "embeddingBackward: token id %d at position %ld is outside the table (0..%ld)", ids[n], n, V - 1);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return NULL;
    }
  rows_job j = {.src = dy, .idx = ids, .dst = grad, .N = N, .C = C};
  j.parts = threads_for((long)N * C, threads);
  if (j.parts > C / 16) j.parts = C / 16 > 0 ? C / 16 : 1;
  pool_run(j.parts, j.parts, embed_task, &j);
  return NULL;
}

MULTIVERSION static void ce_rows(const float *restrict probs, const int32_t *restrict labels, float *restrict dx,
                                 long V, float g, int accumulate, long n0, long n1) {
  for (long n = n0; n < n1; n++) {
    const int32_t label = labels[n];
    float *d = dx + n * V;
    const float *p = probs + n * V;
    if (label == -100) {
      if (!accumulate) memset(d, 0, sizeof(float) * V);
      continue;
    }
    if (accumulate)
      for (long v = 0; v < V; v++) d[v] += g * p[v];
    else
      for (long v = 0; v < V; v++) d[v] = g * p[v];
    d[label] -= g;
  }
}

static void ce_task(void *arg, int i) {
  const rows_job *j = arg;
  PART_RANGE(j->N, j->parts, i, lo, hi);
  ce_rows(j->src, j->idx, j->dst, j->C, j->g, j->accumulate, lo, hi);
}

static napi_value js_cross_entropy_backward(napi_env env, napi_callback_info info) {
  napi_value a[8];
  int N, V, threads;
  float *probs, *dx, g;
  int32_t *labels;
  size_t len;
  bool acc;
  if (!args(env, info, 8, a, "crossEntropyBackward(probs, labels, dx, N, V, g, accumulate, threads) takes 8 arguments"))
    return NULL;
  if (!get_dim(env, a[3], "N", &N) || !get_dim(env, a[4], "V", &V) || !get_scalar(env, a[5], "g", &g) ||
      !get_threads(env, a[7], &threads))
    return NULL;
  if (napi_get_value_bool(env, a[6], &acc) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "crossEntropyBackward: accumulate must be a boolean");
    return NULL;
  }
  const uint64_t n = (uint64_t)N * V;
  if (!get_f32(env, a[0], "crossEntropy probs", n, &probs, &len) || !get_i32(env, a[1], "crossEntropy labels", N, &labels) ||
      !get_f32(env, a[2], "crossEntropy dx", n, &dx, &len))
    return NULL;
  for (long r = 0; r < N; r++)
    if (labels[r] != -100 && (labels[r] < 0 || labels[r] >= V)) {
      char msg[128];
      snprintf(msg, sizeof msg, "crossEntropyBackward: label %d at row %ld is outside 0..%d", labels[r], r, V - 1);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return NULL;
    }
  rows_job j = {.src = probs, .idx = labels, .dst = dx, .N = N, .C = V, .g = g, .accumulate = acc, .parts = threads_for((long)n, threads)};
  pool_run(j.parts, j.parts, ce_task, &j);
  return NULL;
}

MULTIVERSION static void scale_range(float *restrict x, double s, long i0, long i1) {
  for (long i = i0; i < i1; i++) x[i] = (float)(x[i] * s);
}

static void scale_task(void *arg, int i) {
  const rows_job *j = arg;
  PART_RANGE(j->N, j->parts, i, lo, hi);
  scale_range(j->dst, j->s, lo, hi);
}

static napi_value js_scale(napi_env env, napi_callback_info info) {
  napi_value a[4];
  int n, threads;
  float *x;
  double s;
  size_t len;
  if (!args(env, info, 4, a, "scale(x, n, s, threads) takes 4 arguments")) return NULL;
  if (!get_dim(env, a[1], "n", &n) || !get_double(env, a[2], "s", &s) || !get_threads(env, a[3], &threads) ||
      !get_f32(env, a[0], "scale x", n, &x, &len))
    return NULL;
  rows_job j = {.dst = x, .N = n, .s = s, .parts = threads_for(n, threads)};
  pool_run(j.parts, j.parts, scale_task, &j);
  return NULL;
}

/* ---- bf16 widening (frozen weights held in bf16, widened where a product reads them) ---------------------- */

typedef struct {
  const uint16_t *src;
  uint32_t *dst;
  long n;
  int parts;
} widen_job;

MULTIVERSION static void widen_range(const uint16_t *restrict src, uint32_t *restrict dst, long i0, long i1) {
  for (long i = i0; i < i1; i++) dst[i] = (uint32_t)src[i] << 16;
}

static void widen_task(void *arg, int i) {
  const widen_job *j = arg;
  PART_RANGE(j->n, j->parts, i, lo, hi);
  widen_range(j->src, j->dst, lo, hi);
}

static napi_value js_widen_bf16(napi_env env, napi_callback_info info) {
  napi_value a[4];
  int n, threads;
  uint16_t *src;
  float *dst;
  size_t len;
  if (!args(env, info, 4, a, "widenBf16(src, dst, n, threads) takes 4 arguments")) return NULL;
  if (!get_dim(env, a[2], "n", &n) || !get_threads(env, a[3], &threads) || !get_u16(env, a[0], "widenBf16 src", n, &src) ||
      !get_f32(env, a[1], "widenBf16 dst", n, &dst, &len))
    return NULL;
  widen_job j = {.src = src, .dst = (uint32_t *)dst, .n = n, .parts = threads_for(n, threads)};
  pool_run(j.parts, j.parts, widen_task, &j);
  return NULL;
}

/* ---- elementwise sums (out = a + s b; dst += s src) ---------------------------------------------------------- */

typedef struct {
  const float *a, *b;
  float *out;
  double s;
  long n;
  int parts;
} sum_job;

MULTIVERSION static void add_scaled_range(const float *restrict a, const float *restrict b, float *out, double s, long i0, long i1) {
  for (long i = i0; i < i1; i++) out[i] = (float)((double)a[i] + s * (double)b[i]);
}

static void add_scaled_task(void *arg, int i) {
  const sum_job *j = arg;
  PART_RANGE(j->n, j->parts, i, lo, hi);
  add_scaled_range(j->a, j->b, j->out, j->s, lo, hi);
}

/* addScaled(a, b, out, n, s, threads); out may be a (accumulate passes dst as both). */
static napi_value js_add_scaled(napi_env env, napi_callback_info info) {
  napi_value v[6];
  int n, threads;
  float *a, *b, *out;
  double s;
  size_t len;
  if (!args(env, info, 6, v, "addScaled(a, b, out, n, s, threads) takes 6 arguments")) return NULL;
  if (!get_dim(env, v[3], "n", &n) || !get_double(env, v[4], "s", &s) || !get_threads(env, v[5], &threads) ||
      !get_f32(env, v[0], "addScaled a", n, &a, &len) || !get_f32(env, v[1], "addScaled b", n, &b, &len) ||
      !get_f32(env, v[2], "addScaled out", n, &out, &len))
    return NULL;
  sum_job j = {.a = a, .b = b, .out = out, .s = s, .n = n, .parts = threads_for(n, threads)};
  pool_run(j.parts, j.parts, add_scaled_task, &j);
  return NULL;
}

static napi_value js_accumulate(napi_env env, napi_callback_info info) {
  napi_value v[5];
  int n, threads;
  float *dst, *src;
  double s;
  size_t len;
  if (!args(env, info, 5, v, "accumulate(dst, src, n, s, threads) takes 5 arguments")) return NULL;
  if (!get_dim(env, v[2], "n", &n) || !get_double(env, v[3], "s", &s) || !get_threads(env, v[4], &threads) ||
      !get_f32(env, v[0], "accumulate dst", n, &dst, &len) || !get_f32(env, v[1], "accumulate src", n, &src, &len))
    return NULL;
  sum_job j = {.a = dst, .b = src, .out = dst, .s = s, .n = n, .parts = threads_for(n, threads)};
  pool_run(j.parts, j.parts, add_scaled_task, &j);
  return NULL;
}

/* ---- sum of squares ---------------------------------------------------------------------------------------- */

#define SQ_BLOCK 65536L /* elements per partial sum: fixed, so the total is the same on any thread count */

typedef struct {
  const float *x;
  long n;
  double *partial;
} sq_job;

/* sum of x[i]^2 over one block, in 8 double lanes (exact products of floats, summed in double) */
MULTIVERSION static double sum_squares_block(const float *restrict x, long n) {
  double acc[8] = {0};
  long i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] += (double)x[i + l] * (double)x[i + l];
  for (; i < n; i++) acc[0] += (double)x[i] * (double)x[i];
  double s = 0;
  for (int l = 0; l < 8; l++) s += acc[l];
  return s;
}

static void sum_squares_task(void *arg, int b) {
  const sq_job *j = arg;
  const long i0 = (long)b * SQ_BLOCK, len = j->n - i0 < SQ_BLOCK ? j->n - i0 : SQ_BLOCK;
  j->partial[b] = sum_squares_block(j->x + i0, len);
}

static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  napi_value v[3], out;
  int n, threads;
  float *x;
  size_t len;
  if (!args(env, info, 3, v, "sumSquares(x, n, threads) takes 3 arguments")) return NULL;
  if (!get_dim(env, v[1], "n", &n) || !get_threads(env, v[2], &threads) || !get_f32(env, v[0], "sumSquares x", n, &x, &len))
    return NULL;
  const long blocks = (n + SQ_BLOCK - 1) / SQ_BLOCK;
  double one, *partial = blocks <= 1 ? &one : malloc(sizeof(double) * (size_t)blocks);
  if (!partial) { napi_throw_error(env, "ERR_MEMORY", "sumSquares: out of memory"); return NULL; }
  one = 0;
  sq_job j = {.x = x, .n = n, .partial = partial};
  if (blocks > 0) pool_run(threads_for(n, threads), (int)blocks, sum_squares_task, &j);
  double s = 0;
  for (long b = 0; b < blocks; b++) s += partial[b];
  if (partial != &one) free(partial);
  CHECK(env, napi_create_double(env, s, &out));
  return out;
}

/* ---- AdamW -------------------------------------------------------------------------------------------------- */

typedef struct {
  float *p, *m, *v;
  const float *g;
  long n;
  double b1, b2, eps, decay, step_size, bc2_sqrt;
  int parts;
} adamw_job;

/* PyTorch's AdamW in float32, as torch computes it (its order, each value rounded to float): m and v first, then
 * p = p * decay - step_size * m / (sqrt(v) / bc2_sqrt + eps). 16 floats to a vector, so the square root and the
 * division cost what the memory traffic does. (The TypeScript loop computes the same with Math.fround: the same
 * bits.) */
MULTIVERSION static void adamw_range(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                                     double b1d, double b2d, double epsd, double decayd, double step_sized,
                                     double bc2_sqrtd, long i0, long i1) {
  const float b1 = (float)b1d, b2 = (float)b2d, c1 = (float)(1.0 - b1d), c2 = (float)(1.0 - b2d), eps = (float)epsd;
  const float decay = (float)decayd, step_size = (float)step_sized, bc2_sqrt = (float)bc2_sqrtd;
  for (long i = i0; i < i1; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
  }
}

static void adamw_task(void *arg, int i) {
  const adamw_job *j = arg;
  PART_RANGE(j->n, j->parts, i, lo, hi);
  adamw_range(j->p, j->g, j->m, j->v, j->b1, j->b2, j->eps, j->decay, j->step_size, j->bc2_sqrt, lo, hi);
}

static napi_value js_adamw(napi_env env, napi_callback_info info) {
  napi_value a[11];
  float *p, *g, *m, *v;
  size_t np, len;
  int threads;
  double s[6];
  if (!args(env, info, 11, a, "adamw(p, g, m, v, b1, b2, eps, decay, stepSize, bc2Sqrt, threads) takes 11 arguments"))
    return NULL;
  if (!get_f32(env, a[0], "adamw p", 0, &p, &np) || !get_f32(env, a[1], "adamw g", np, &g, &len) ||
      !get_f32(env, a[2], "adamw m", np, &m, &len) || !get_f32(env, a[3], "adamw v", np, &v, &len))
    return NULL;
  for (int i = 0; i < 6; i++)
    if (!get_double(env, a[4 + i], "adamw hyperparameter", &s[i])) return NULL;
  if (!get_threads(env, a[10], &threads)) return NULL;
  adamw_job j = {.p = p, .m = m, .v = v, .g = g, .n = (long)np, .b1 = s[0], .b2 = s[1], .eps = s[2], .decay = s[3],
                 .step_size = s[4], .bc2_sqrt = s[5], .parts = threads_for((long)np, threads)};
  pool_run(j.parts, j.parts, adamw_task, &j);
  return NULL;
}

void ops_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"rmsnormForward", NULL, js_rmsnorm_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rmsnormBackward", NULL, js_rmsnorm_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"swigluForward", NULL, js_swiglu_forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"swigluBackward", NULL, js_swiglu_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"softmaxRows", NULL, js_softmax_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rope", NULL, js_rope, NULL, NULL, NULL, napi_enumerable, NULL},
      {"embeddingBackward", NULL, js_embedding_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"crossEntropyBackward", NULL, js_cross_entropy_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scale", NULL, js_scale, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumSquares", NULL, js_sum_squares, NULL, NULL, NULL, napi_enumerable, NULL},
      {"widenBf16", NULL, js_widen_bf16, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addScaled", NULL, js_add_scaled, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accumulate", NULL, js_accumulate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamw", NULL, js_adamw, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
