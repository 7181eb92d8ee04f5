/*
 * Argument readers shared by the gemm addons (gemm.c: own kernels, openblas.c: OpenBLAS). Each reader throws a JS
 * error naming the argument and returns 0 when the value is wrong, so a caller just returns NULL.
 */
#ifndef MODELFAB_NAPI_ARGS_H
#define MODELFAB_NAPI_ARGS_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), "ERR_MODELFAB_GEMM", "N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

static inline int get_bool(napi_env env, napi_value v, const char *what, int *out) {
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

static inline int get_dim(napi_env env, napi_value v, const char *what, int *out) {
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

static inline int get_scalar(napi_env env, napi_value v, const char *what, float *out) {
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

/* A typed array of `type` (`type_name` in the error) with at least `need` elements; *data points at element 0 of
 * the view (napi_get_typedarray_info applies byteOffset). */
static inline int get_typed_array(napi_env env, napi_value v, const char *what, uint64_t need, napi_typedarray_type type,
                                  const char *type_name, void **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type got;
  size_t length = 0, byte_offset = 0;
  void *ptr = NULL;
  napi_value ab;
  char msg[160];
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &got, &length, &ptr, &ab, &byte_offset) != napi_ok || got != type) {
    snprintf(msg, sizeof msg, "sgemm: %s must be %s", what, type_name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  if ((uint64_t)length < need || (need > 0 && ptr == NULL)) {
    snprintf(msg, sizeof msg, "sgemm: %s is too short: it has %zu elements, the problem needs %llu", what, length,
             (unsigned long long)need);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *data = ptr;
  *len = length;
  return 1;
}

/* A Float32Array with at least `need` elements. */
static inline int get_f32(napi_env env, napi_value v, const char *what, uint64_t need, float **data, size_t *len) {
  return get_typed_array(env, v, what, need, napi_float32_array, "a Float32Array", (void **)data, len);
}

/* A Uint16Array of bfloat16 bits with at least `need` elements. */
static inline int get_bf16(napi_env env, napi_value v, const char *what, uint64_t need, const unsigned short **data) {
  size_t len;
  return get_typed_array(env, v, what, need, napi_uint16_array, "a Uint16Array (bfloat16 bits)", (void **)data, &len);
}

static inline int overlaps(const float *a, uint64_t na, const float *b, uint64_t nb) {
  uintptr_t a0 = (uintptr_t)a, a1 = a0 + na * sizeof(float), b0 = (uintptr_t)b, b1 = b0 + nb * sizeof(float);
  return na > 0 && nb > 0 && a0 < b1 && b0 < a1;
}

/* The ten sgemm arguments, validated: sizes, arrays long enough, C apart from A and B. B is float32 (B), or with
 * `bits` bfloat16 bits (Bh, B NULL). */
typedef struct {
  int ta, tb, M, N, K;
  float alpha, beta;
  float *A, *B, *C;
  const unsigned short *Bh;
} sgemm_args;

/* Returns 1 with *a filled, or 0 with a JS error thrown naming `fn`'s argument. argv holds at least 10 values. */
static inline int read_sgemm_args(napi_env env, size_t argc, napi_value *argv, sgemm_args *a, const char *fn, int bits) {
  size_t la, lb, lc;
  char msg[128];
  if (argc < 10) {
    snprintf(msg, sizeof msg, "%s(transA, transB, M, N, K, alpha, A, B, beta, C) needs 10 arguments", fn);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", msg);
    return 0;
  }
  if (!get_bool(env, argv[0], "transA", &a->ta) || !get_bool(env, argv[1], "transB", &a->tb) ||
      !get_dim(env, argv[2], "M", &a->M) || !get_dim(env, argv[3], "N", &a->N) || !get_dim(env, argv[4], "K", &a->K) ||
      !get_scalar(env, argv[5], "alpha", &a->alpha) || !get_scalar(env, argv[8], "beta", &a->beta))
    return 0;
  uint64_t na = (uint64_t)a->M * (uint64_t)a->K, nb = (uint64_t)a->K * (uint64_t)a->N,
           nc = (uint64_t)a->M * (uint64_t)a->N;
  a->B = NULL, a->Bh = NULL;
  if (!get_f32(env, argv[6], "A", na, &a->A, &la) ||
      !(bits ? get_bf16(env, argv[7], "B", nb, &a->Bh) : get_f32(env, argv[7], "B", nb, &a->B, &lb)) ||
      !get_f32(env, argv[9], "C", nc, &a->C, &lc))
    return 0;
  /* bf16 bits: the bytes of (nb + 1) / 2 floats */
  if (overlaps(a->C, nc, a->A, na) || overlaps(a->C, nc, bits ? (const float *)a->Bh : a->B, bits ? (nb + 1) / 2 : nb)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sgemm: C must not overlap A or B");
    return 0;
  }
  return 1;
}

/* C = beta * C over n elements; beta == 0 overwrites (old NaN ignored). */
static inline void scale_c(float *C, uint64_t n, float beta) {
  if (beta == 0.0f)
    for (uint64_t i = 0; i < n; i++) C[i] = 0.0f;
  else if (beta != 1.0f)
    for (uint64_t i = 0; i < n; i++) C[i] *= beta;
}

/* 1 when the product needs no multiplying: C is empty, or K == 0 or alpha == 0 (then C = beta * C, done here). */
static inline int sgemm_trivial(const sgemm_args *a) {
  const uint64_t nc = (uint64_t)a->M * (uint64_t)a->N;
  if (nc == 0) return 1; /* nothing to write */
  if (a->K == 0 || a->alpha == 0.0f) {
    scale_c(a->C, nc, a->beta);
    return 1;
  }
  return 0;
}

#endif
