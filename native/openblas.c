/*
 * modelfab's OpenBLAS gemm: a thin N-API binding of OpenBLAS's cblas_sgemm (row-major, BLAS semantics), built
 * beside the own-kernel addon (gemm.c) only when OpenBLAS is installed, and used only when asked for
 * (MODELFAB_GEMM=openblas, or the `openblas` backend in benchmarks): the engine is fast without it.
 *
 * JS API (loaded by src/engine/gemm/openblas.ts):
 *   sgemm(transA, transB, M, N, K, alpha, A, B, beta, C)   A, B, C: Float32Array (views are fine; byteOffset respected)
 *   setNumThreads(n) / getNumThreads() / numProcs()
 *   config()    -> openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
 *   corename()  -> openblas_get_corename(), e.g. "Zen"
 *
 * Every argument is validated (napi-args.h): a wrong type, a non-integer or negative size, or an array shorter than
 * the problem needs throws a JS error; nothing reaches cblas_sgemm that could make it read or write out of bounds.
 */
#define _GNU_SOURCE
#include "napi-args.h"
#include <cblas.h>

/* Declared by OpenBLAS's cblas.h; repeated here in case another cblas.h comes first on the include path. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
int openblas_get_num_procs(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  sgemm_args a;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!read_sgemm_args(env, argc, argv, &a, "sgemm", 0) || sgemm_trivial(&a)) return NULL;
  int lda = a.ta ? a.M : a.K, ldb = a.tb ? a.K : a.N, ldc = a.N;
  cblas_sgemm(CblasRowMajor, a.ta ? CblasTrans : CblasNoTrans, a.tb ? CblasTrans : CblasNoTrans, a.M, a.N, a.K,
              a.alpha, a.A, lda > 0 ? lda : 1, a.B, ldb > 0 ? ldb : 1, a.beta, a.C, ldc > 0 ? ldc : 1);
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
