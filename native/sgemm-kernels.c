/*
 * The micro-kernels of the own sgemm (see sgemm.h for the contract): AVX-512 (12 x 32), AVX2 + FMA (6 x 16) and
 * plain C (4 x 8, GCC vector extensions). The SIMD ones are compiled with per-function target attributes, so the addon is built without
 * -march flags and runs on any x86-64; sgemm_best_isa picks by __builtin_cpu_supports at run time.
 *
 * Each kernel keeps the whole tile in registers (MR x NR/lanes accumulators), broadcasts one element of the A
 * sliver per row and loads NR/lanes vectors of the B sliver per k. Stores go straight to C for a full tile and
 * through a small buffer for an edge tile, with the same arithmetic (t = alpha * acc; c = fma(beta, c, t)).
 */
#include "sgemm.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MODELFAB_X86 1
#endif

/* ---- plain C: 4 x 8 in GCC vector extensions (SSE2 on any x86-64, NEON on arm64): 8 four-lane accumulators -- */
#define G_MR 4
#define G_NR 8
typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
  v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}

static void kernel_generic(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta,
                           int m, int n) {
  v4f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
  for (long k = 0; k < kc; k++) {
    const v4f b0 = load4(b + k * G_NR), b1 = load4(b + k * G_NR + 4);
    const float *ak = a + k * G_MR;
    c00 += ak[0] * b0, c01 += ak[0] * b1;
    c10 += ak[1] * b0, c11 += ak[1] * b1;
    c20 += ak[2] * b0, c21 += ak[2] * b1;
    c30 += ak[3] * b0, c31 += ak[3] * b1;
  }
  float t[G_MR][G_NR];
  const v4f rows[G_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
  for (int r = 0; r < G_MR; r++) {
    const v4f t0 = alpha * rows[r][0], t1 = alpha * rows[r][1];
    memcpy(t[r], &t0, sizeof t0);
    memcpy(t[r] + 4, &t1, sizeof t1);
  }
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++)
      c[r * ldc + j] = beta == 0.0f ? t[r][j] : __builtin_fmaf(beta, c[r * ldc + j], t[r][j]);
}

static int supported_always(void) { return 1; }

/* The unpacked path for a few rows, written once in plain C with fixed-width lanes the compiler vectorises, and
 * compiled once per instruction set. Each element's sum runs in one fixed order (lanes, then the lanes added in
 * order), whatever part of C a thread computes. */
#define SMALL_LANES 16
#define DEFINE_SMALL(suffix, attr)                                                                               \
  attr static void small_##suffix(const sgemm_part *p, float *scratch) {                                         \
    const long K = p->K, n = p->j1 - p->j0;                                                                      \
    for (long i = p->i0; i < p->i1; i++) {                                                                       \
      float *c = p->C + i * p->ldc + p->j0;                                                                      \
      if (!p->tb) { /* row of C = sum_k a_ik * row k of B */                                                     \
        float *acc = scratch;                                                                                    \
        for (long j = 0; j < n; j++) acc[j] = 0.0f;                                                              \
        for (long k = 0; k < K; k++) {                                                                           \
          const float a = p->ta ? p->A[k * p->lda + i] : p->A[i * p->lda + k];                                   \
          const float *b = p->B + k * p->ldb + p->j0;                                                            \
          for (long j = 0; j < n; j++) acc[j] += a * b[j];                                                       \
        }                                                                                                        \
        for (long j = 0; j < n; j++) {                                                                           \
          const float t = p->alpha * acc[j];                                                                     \
          c[j] = p->beta == 0.0f ? t : __builtin_fmaf(p->beta, c[j], t);                                         \
        }                                                                                                        \
      } else { /* element of C = row i of op(A) . row j of B */                                                  \
        const float *a = p->A + i * p->lda;                                                                      \
        if (p->ta) {                                                                                             \
          for (long k = 0; k < K; k++) scratch[k] = p->A[k * p->lda + i];                                        \
          a = scratch;                                                                                           \
        }                                                                                                        \
        const long kv = K / SMALL_LANES * SMALL_LANES;                                                           \
        for (long j = 0; j < n; j++) {                                                                           \
          const float *b = p->B + (p->j0 + j) * p->ldb;                                                          \
          float lane[SMALL_LANES] = {0};                                                                         \
          for (long k = 0; k < kv; k += SMALL_LANES)                                                             \
            for (int l = 0; l < SMALL_LANES; l++) lane[l] += a[k + l] * b[k + l];                                \
          float sum = 0.0f;                                                                                      \
          for (int l = 0; l < SMALL_LANES; l++) sum += lane[l];                                                  \
          for (long k = kv; k < K; k++) sum += a[k] * b[k];                                                      \
          const float t = p->alpha * sum;                                                                        \
          c[j] = p->beta == 0.0f ? t : __builtin_fmaf(p->beta, c[j], t);                                         \
        }                                                                                                        \
      }                                                                                                          \
    }                                                                                                            \
  }

DEFINE_SMALL(generic, )

#ifdef MODELFAB_X86
/* ---- AVX2 + FMA: 6 x 16 (12 ymm accumulators) ----------------------------------------------------------------- */
#define H_MR 6
#define H_NR 16

__attribute__((target("avx2,fma")))
static void kernel_avx2(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta,
                        int m, int n) {
  __m256 acc[H_MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < H_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (long k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(b + k * H_NR), b1 = _mm256_loadu_ps(b + k * H_NR + 8);
#pragma GCC unroll 6
    for (int r = 0; r < H_MR; r++) {
      const __m256 ar = _mm256_broadcast_ss(a + k * H_MR + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  if (m == H_MR && n == H_NR) {
#pragma GCC unroll 6
    for (int r = 0; r < H_MR; r++) {
      float *cr = c + r * ldc;
      const __m256 t0 = _mm256_mul_ps(va, acc[r][0]), t1 = _mm256_mul_ps(va, acc[r][1]);
      if (beta == 0.0f) {
        _mm256_storeu_ps(cr, t0);
        _mm256_storeu_ps(cr + 8, t1);
      } else {
        _mm256_storeu_ps(cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), t0));
        _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), t1));
      }
    }
    return;
  }
  float t[H_MR * H_NR];
  for (int r = 0; r < H_MR; r++) {
    _mm256_storeu_ps(t + r * H_NR, _mm256_mul_ps(va, acc[r][0]));
    _mm256_storeu_ps(t + r * H_NR + 8, _mm256_mul_ps(va, acc[r][1]));
  }
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++)
      c[r * ldc + j] = beta == 0.0f ? t[r * H_NR + j] : __builtin_fmaf(beta, c[r * ldc + j], t[r * H_NR + j]);
}

DEFINE_SMALL(avx2, __attribute__((target("avx2,fma"))))

static int supported_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* ---- AVX-512: 12 x 32 (24 zmm accumulators) ------------------------------------------------------------------- */
#define Z_MR 12
#define Z_NR 32

__attribute__((target("avx512f,fma")))
static void kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta,
                          int m, int n) {
  __m512 acc[Z_MR][2];
  /* the tile of C (two lines a row) is fetched while the k loop runs: in a training step it is rarely in cache */
#pragma GCC unroll 12
  for (int r = 0; r < Z_MR; r++) {
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 12
  for (int r = 0; r < Z_MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (long k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(b + k * Z_NR), b1 = _mm512_loadu_ps(b + k * Z_NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < Z_MR; r++) {
      const __m512 ar = _mm512_set1_ps(a[k * Z_MR + r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  if (m == Z_MR && n == Z_NR) {
#pragma GCC unroll 12
    for (int r = 0; r < Z_MR; r++) {
      float *cr = c + r * ldc;
      const __m512 t0 = _mm512_mul_ps(va, acc[r][0]), t1 = _mm512_mul_ps(va, acc[r][1]);
      if (beta == 0.0f) {
        _mm512_storeu_ps(cr, t0);
        _mm512_storeu_ps(cr + 16, t1);
      } else {
        _mm512_storeu_ps(cr, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), t0));
        _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), t1));
      }
    }
    return;
  }
  float t[Z_MR * Z_NR];
  for (int r = 0; r < Z_MR; r++) {
    _mm512_storeu_ps(t + r * Z_NR, _mm512_mul_ps(va, acc[r][0]));
    _mm512_storeu_ps(t + r * Z_NR + 16, _mm512_mul_ps(va, acc[r][1]));
  }
  for (int r = 0; r < m; r++)
    for (int j = 0; j < n; j++)
      c[r * ldc + j] = beta == 0.0f ? t[r * Z_NR + j] : __builtin_fmaf(beta, c[r * ldc + j], t[r * Z_NR + j]);
}

DEFINE_SMALL(avx512, __attribute__((target("avx512f,fma"))))

static int supported_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}
#endif

const sgemm_isa SGEMM_ISAS[] = {
#ifdef MODELFAB_X86
    {"avx512", Z_MR, Z_NR, 256, 12 * 16, 32 * 64, kernel_avx512, small_avx512, supported_avx512},
    {"avx2+fma", H_MR, H_NR, 256, 6 * 24, 16 * 128, kernel_avx2, small_avx2, supported_avx2},
#endif
    {"generic", G_MR, G_NR, 256, 4 * 32, 8 * 256, kernel_generic, small_generic, supported_always},
};
const int SGEMM_NUM_ISAS = (int)(sizeof SGEMM_ISAS / sizeof SGEMM_ISAS[0]);

int sgemm_best_isa(void) {
  for (int i = 0; i < SGEMM_NUM_ISAS; i++)
    if (SGEMM_ISAS[i].supported()) return i;
  return SGEMM_NUM_ISAS - 1;
}
