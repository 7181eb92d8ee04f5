/*
 * modelfab's native gemm: an N-API binding of the own sgemm (sgemm.h: packed, cache-blocked, AVX-512 / AVX2+FMA /
 * plain C micro-kernels chosen at run time). Needs no BLAS: `npm install` builds it with the machine's compiler.
 *
 * JS API (loaded by src/engine/gemm/native.ts):
 *   sgemm(transA, transB, M, N, K, alpha, A, B, beta, C[, threads[, kernel]])
 *       A, B, C: Float32Array (views are fine; byteOffset respected). threads: how many threads may compute
 *       (default 1). kernel: an index into kernels() (default: the fastest this processor runs).
 *   sgemmBf16B(transA, transB, M, N, K, alpha, A, B, beta, C[, threads[, kernel]])
 *       the same with B a Uint16Array of bfloat16 bits (a frozen bf16 weight), packed straight from them: the bits
 *       sgemm gives on the widened B
 *   kernels()  -> [{ name, supported, mr, nr, bf16 }]: the float32 kernels fastest first ("avx512", "avx2+fma",
 *                 "generic"), then the mixed-precision ones (bf16: true, "amx-bf16", "avx512-bf16": operands rounded
 *                 to bfloat16, products summed in float32), which are used only when asked for by index
 *   best()     -> the index of the kernel used by default (the fastest float32 one)
 *   attnScores, attnApply, attnBackward: attention over all heads at once (attention.c)
 *   rmsnormForward, swigluForward, rope, adamw, ...: the row kernels of a training step on threads (ops.c)
 *
 * Every argument is validated (napi-args.h): a wrong type, a non-integer or negative size, an array shorter than
 * the problem needs, or a kernel the processor lacks throws a JS error; nothing is read or written out of bounds.
 */
#define _GNU_SOURCE
#include "napi-args.h"
#include "sgemm.h"

void attention_register(napi_env env, napi_value exports); /* attention.c */
void ops_register(napi_env env, napi_value exports);       /* ops.c */

/* The optional threads (argv[10], default 1) and kernel (argv[11], default the fastest float32 one) of a call. */
static int read_threads_kernel(napi_env env, size_t argc, napi_value *argv, int *threads, int *kernel) {
  napi_valuetype t;
  *threads = 1, *kernel = sgemm_best_isa();
  if (argc > 10 && napi_typeof(env, argv[10], &t) == napi_ok && t != napi_undefined) {
    if (!get_dim(env, argv[10], "threads", threads)) return 0;
    if (*threads < 1) *threads = 1;
  }
  if (argc > 11 && napi_typeof(env, argv[11], &t) == napi_ok && t != napi_undefined) {
    if (!get_dim(env, argv[11], "kernel", kernel)) return 0;
    if (*kernel >= SGEMM_NUM_ISAS || !SGEMM_ISAS[*kernel].supported()) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sgemm: kernel is not one this processor runs (see kernels())");
      return 0;
    }
  }
  return 1;
}

/* sgemm and sgemmBf16B: one function, registered twice; its data (non-NULL for sgemmBf16B) says whether B is
 * bfloat16 bits. */
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  void *bits_b;
  sgemm_args a;
  int threads, kernel;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, &bits_b));
  if (!read_sgemm_args(env, argc, argv, &a, bits_b ? "sgemmBf16B" : "sgemm", bits_b != NULL) ||
      !read_threads_kernel(env, argc, argv, &threads, &kernel) || sgemm_trivial(&a))
    return NULL;
  if (!bits_b)
    sgemm_run(&SGEMM_ISAS[kernel], threads, a.ta, a.tb, a.M, a.N, a.K, a.alpha, a.A, a.B, a.beta, a.C);
  else if (!sgemm_run_ld_hb(&SGEMM_ISAS[kernel], threads, a.ta, a.tb, a.M, a.N, a.K, a.alpha, a.A, a.ta ? a.M : a.K,
                            a.Bh, a.tb ? a.K : a.N, a.beta, a.C, a.N))
    napi_throw_error(env, "ERR_MEMORY", "sgemmBf16B: out of memory");
  return NULL;
}

static napi_value js_kernels(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list, item, v;
  CHECK(env, napi_create_array_with_length(env, (size_t)SGEMM_NUM_ISAS, &list));
  for (int i = 0; i < SGEMM_NUM_ISAS; i++) {
    const sgemm_isa *k = &SGEMM_ISAS[i];
    CHECK(env, napi_create_object(env, &item));
    CHECK(env, napi_create_string_utf8(env, k->name, NAPI_AUTO_LENGTH, &v));
    CHECK(env, napi_set_named_property(env, item, "name", v));
    CHECK(env, napi_get_boolean(env, k->supported() != 0, &v));
    CHECK(env, napi_set_named_property(env, item, "supported", v));
    CHECK(env, napi_create_int32(env, k->mr, &v));
    CHECK(env, napi_set_named_property(env, item, "mr", v));
    CHECK(env, napi_create_int32(env, k->nr, &v));
    CHECK(env, napi_set_named_property(env, item, "nr", v));
    CHECK(env, napi_get_boolean(env, k->bf16 != 0, &v));
    CHECK(env, napi_set_named_property(env, item, "bf16", v));
    CHECK(env, napi_set_element(env, list, (uint32_t)i, item));
  }
  return list;
}

static napi_value js_best(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(env, napi_create_int32(env, sgemm_best_isa(), &r));
  return r;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sgemmBf16B", NULL, js_sgemm, NULL, NULL, NULL, napi_enumerable, (void *)1},
      {"kernels", NULL, js_kernels, NULL, NULL, NULL, napi_enumerable, NULL},
      {"best", NULL, js_best, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  attention_register(env, exports);
  ops_register(env, exports);
  return exports;
}
