/*
 * modelfab native gemm: a thin N-API binding of OpenBLAS's cblas_sgemm (row-major, BLAS semantics).
 *
 * JS API (loaded by src/engine/gemm/native.ts):
 *   sgemm(transA, transB, M, N, K, alpha, A, B, beta, C)   A, B, C: Float32Array (views are fine; byteOffset respected)
 *   setNumThreads(n) / getNumThreads() / numProcs()
 *   config()    -> openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
 *   corename()  -> openblas_get_corename(), e.g. "Zen"
 *
 * Every argument is validated here: a wrong type, a non-integer or negative size, or an array shorter than the
 * problem needs throws a JS error; nothing reaches cblas_sgemm that could make it read or write out of bounds.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stddef.h>

/* Declared by OpenBLAS's cblas.h; repeated here in case another cblas.h comes first on the include path. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
int openblas_get_num_procs(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), "ERR_MODELFAB_GEMM", "N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

static int get_bool(napi_env env, napi_value v, const char *what, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "sgemm: %s must be a boolean", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *out = b ? 1 : 0;
  return 1;
}

static int get_dim(napi_env env, napi_value v, const char *what, int *out) {
  double d;
  char msg[128];
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    snprintf(msg, sizeof msg, "sgemm: %s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  if (!(d >= 0) || d > 2147483647.0 || d != floor(d)) {
    snprintf(msg, sizeof msg, "sgemm: %s must be an integer in [0, 2^31), got %g", what, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int)d;
  return 1;
}

static int get_scalar(napi_env env, napi_value v, const char *what, float *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "sgemm: %s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *out = (float)d;
  return 1;
}

/* A Float32Array with at least `need` elements; *data points at element 0 of the view (byteOffset applied). */
static int get_f32(napi_env env, napi_value v, const char *what, uint64_t need, float **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  void *ptr = NULL;
  napi_value ab;
  char msg[160];
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &byte_offset) != napi_ok ||
      type != napi_float32_array) {
    snprintf(msg, sizeof msg, "sgemm: %s must be a Float32Array", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  if ((uint64_t)length < need || (need > 0 && ptr == NULL)) {
    snprintf(msg, sizeof msg, "sgemm: %s is too short: it has %zu elements, the problem needs %llu", what, length,
             (unsigned long long)need);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *data = (float *)ptr; /* napi_get_typedarray_info already applies byte_offset */
  *len = length;
  return 1;
}

static int overlaps(const float *a, uint64_t na, const float *b, uint64_t nb) {
  uintptr_t a0 = (uintptr_t)a, a1 = a0 + na * sizeof(float), b0 = (uintptr_t)b, b1 = b0 + nb * sizeof(float);
  return na > 0 && nb > 0 && a0 < b1 && b0 < a1;
}

static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 10) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS",
                          "sgemm(transA, transB, M, N, K, alpha, A, B, beta, C) needs 10 arguments");
    return NULL;
  }
  int ta, tb, M, N, K;
  float alpha, beta, *A, *B, *C;
  size_t la, lb, lc;
  if (!get_bool(env, argv[0], "transA", &ta) || !get_bool(env, argv[1], "transB", &tb) ||
      !get_dim(env, argv[2], "M", &M) || !get_dim(env, argv[3], "N", &N) || !get_dim(env, argv[4], "K", &K) ||
      !get_scalar(env, argv[5], "alpha", &alpha) || !get_scalar(env, argv[8], "beta", &beta))
    return NULL;
  uint64_t na = (uint64_t)M * (uint64_t)K, nb = (uint64_t)K * (uint64_t)N, nc = (uint64_t)M * (uint64_t)N;
  if (!get_f32(env, argv[6], "A", na, &A, &la) || !get_f32(env, argv[7], "B", nb, &B, &lb) ||
      !get_f32(env, argv[9], "C", nc, &C, &lc))
    return NULL;
  if (nc == 0) return NULL; /* nothing to write */
  if (overlaps(C, nc, A, na) || overlaps(C, nc, B, nb)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sgemm: C must not overlap A or B");
    return NULL;
  }
  if (K == 0 || alpha == 0.0f) { /* C = beta * C; beta == 0 overwrites (ignores NaN) */
    if (beta == 0.0f)
      for (uint64_t i = 0; i < nc; i++) C[i] = 0.0f;
    else if (beta != 1.0f)
      for (uint64_t i = 0; i < nc; i++) C[i] *= beta;
    return NULL;
  }
  int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
              lda > 0 ? lda : 1, B, ldb > 0 ? ldb : 1, beta, C, ldc > 0 ? ldc : 1);
  return NULL;
}

static napi_value js_set_num_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int n;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_dim(env, argv[0], "threads", &n)) return NULL;
  if (n < 1) n = 1;
  openblas_set_num_threads(n);
  return NULL;
}

static napi_value js_get_num_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(env, napi_create_int32(env, openblas_get_num_threads(), &r));
  return r;
}

static napi_value js_num_procs(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(env, napi_create_int32(env, openblas_get_num_procs(), &r));
  return r;
}

static napi_value make_string(napi_env env, const char *s) {
  napi_value r;
  CHECK(env, napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &r));
  return r;
}

static napi_value js_config(napi_env env, napi_callback_info info) {
  (void)info;
  return make_string(env, openblas_get_config());
}

static napi_value js_corename(napi_env env, napi_callback_info info) {
  (void)info;
  return make_string(env, openblas_get_corename());
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNumThreads", NULL, js_set_num_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getNumThreads", NULL, js_get_num_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"numProcs", NULL, js_num_procs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"config", NULL, js_config, NULL, NULL, NULL, napi_enumerable, NULL},
      {"corename", NULL, js_corename, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
