/*
 * The micro-kernels of the own sgemm (see sgemm.h for the contract): AVX-512 (12 x 32), AVX2 + FMA (6 x 16) and
 * plain C (4 x 8, GCC vector extensions) in float32, and AMX-BF16 (32 x 32) and AVX512-BF16 (12 x 32) in mixed
 * precision, asked for by name.
 * The SIMD ones are compiled with per-function target attributes, so the addon is built without -march flags and
 * runs on any x86-64; sgemm_best_isa picks by __builtin_cpu_supports at run time.
 *
 * Each kernel keeps the whole tile in registers (MR x NR/lanes accumulators), broadcasts one element of the A
 * sliver per row and loads NR/lanes vectors of the B sliver per k. Stores go straight to C for a full tile and
 * through a small buffer for an edge tile, with the same arithmetic (t = alpha * acc; c = fma(beta, c, t)).
 */
#include "sgemm.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MODELFAB_X86 1
#endif
#if defined(MODELFAB_X86) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define MODELFAB_BF16 1 /* the bf16 intrinsics: GCC 11 on */
#endif
#if defined(MODELFAB_BF16) && defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define MODELFAB_AMX 1 /* AMX also needs the kernel's permission (arch_prctl) */
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

static void kernel_generic(long kc, const void *av, const void *bv, float *c, long ldc, float alpha, float beta,
                           int m, int n) {
  const float *a = av, *b = bv;
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
static void kernel_avx2(long kc, const void *av, const void *bv, float *c, long ldc, float alpha, float beta,
                        int m, int n) {
  const float *a = av, *b = bv;
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
static void kernel_avx512(long kc, const void *av, const void *bv, float *c, long ldc, float alpha, float beta,
                          int m, int n) {
  const float *a = av, *b = bv;
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

#ifdef MODELFAB_BF16
/* ---- bfloat16 helpers, and AVX512-BF16: 12 x 32 ---------------------------------------------------------------
 * Rounding is the processor's (vcvtne2ps2bf16: to nearest even, NaN kept). The AVX512-BF16 kernel multiplies pairs
 * of k: each 32-bit word holds the bf16 of k = 2q (low half) and 2q + 1 (high half), and vdpbf16ps adds both
 * products of a word pair to a float32 lane. Packed layouts (depth padded with a zero to even):
 *   A sliver: [pair q][row 0..11]     words
 *   B sliver: [pair q][column 0..31]  words */
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define Y_MR 12
#define Y_NR 32

static inline __mmask16 first(int n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* 32 floats (fewer at the edge: the rest read as 0) from p, as 32 bf16. */
BF16_TARGET static inline __m512i bf16x32(const float *p, int n) {
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(first(n - 16), p + 16), _mm512_maskz_loadu_ps(first(n), p));
}

/* (row k of 16 bf16, row k + 1 of 16) in one vector -> 16 pairs: word j = (k, j) | (k + 1, j) << 16 */
BF16_TARGET static inline __m512i interleave_pairs(__m512i rows) {
  const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5,
                                         20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(pairs, rows);
}

/* Two rows of 16 floats, rounded to bf16, as 16 pair words (interleave_pairs). */
BF16_TARGET static inline __m512i pair_words(__m512 k0, __m512 k1) {
  return interleave_pairs((__m512i)_mm512_cvtne2ps_pbh(k1, k0));
}

/* v[i] word j -> v[j] word i (16 x 16 32-bit words, in registers). */
BF16_TARGET static inline void transpose16(__m512i v[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; j++) {
      t[i + j] = _mm512_shuffle_i32x4(v[i + j], v[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_i32x4(v[i + j], v[i + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; j++) {
    v[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
    v[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
  }
}

/* c (m x n, n <= 32, row stride ldc) = alpha * t + beta * c for a tile t of 32-float rows (aligned); beta == 0
 * overwrites. Stored as the float32 kernels store: t' = alpha * t, c = fma(beta, c, t'). */
BF16_TARGET static inline void store_tile32(const float *t, float *c, long ldc, float alpha, float beta, int m, int n) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = first(n), m1 = first(n - 16);
  for (int r = 0; r < m; r++) {
    float *cr = c + r * ldc;
    const __m512 t0 = _mm512_mul_ps(va, _mm512_load_ps(t + r * 32)), t1 = _mm512_mul_ps(va, _mm512_load_ps(t + r * 32 + 16));
    if (beta == 0.0f) {
      _mm512_mask_storeu_ps(cr, m0, t0);
      _mm512_mask_storeu_ps(cr + 16, m1, t1);
    } else {
      _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), t0));
      _mm512_mask_storeu_ps(cr + 16, m1, _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), t1));
    }
  }
}

/* B's values are floats (rounded to bf16 here) or bf16 bits (taken as they are): element i of B. */
static inline const void *elem_at(const void *B, int half, long i) {
  return half ? (const void *)((const unsigned short *)B + i) : (const void *)((const float *)B + i);
}

/* 32 values from p (n of them: the rest read as 0) as 32 bf16. */
BF16_TARGET static inline __m512i row32(const void *p, int half, int n) {
  if (!half) return bf16x32((const float *)p, n);
  const __mmask32 m = n >= 32 ? 0xffffffffu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1);
  return _mm512_maskz_loadu_epi16(m, p);
}

/* 16 values of two rows (r1 NULL: zeros), the columns in `cols`, as 16 pair words (r0[j], r1[j]). */
BF16_TARGET static inline __m512i pair16(const void *r0, const void *r1, int half, __mmask16 cols) {
  if (!half) return pair_words(_mm512_maskz_loadu_ps(cols, r0), r1 ? _mm512_maskz_loadu_ps(cols, r1) : _mm512_setzero_ps());
  const __m256i a = _mm256_maskz_loadu_epi16(cols, r0), b = r1 ? _mm256_maskz_loadu_epi16(cols, r1) : _mm256_setzero_si256();
  return interleave_pairs(_mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
}

BF16_TARGET static void pack_a_bf16(int ta, const float *A, long lda, long i0, int mc, long p0, int kc, int MR, void *dst) {
  const int pairs = (kc + 1) / 2;
  for (int s = 0; s < mc; s += Y_MR) {
    const int m = mc - s < Y_MR ? mc - s : Y_MR;
    uint32_t *d = (uint32_t *)dst + (long)(s / Y_MR) * pairs * Y_MR;
    if (!ta) { /* row r's k are contiguous: 32 of them convert to 16 words */
      for (int k0 = 0; k0 < kc; k0 += 32) {
        const int np = (kc - k0 + 1) / 2 < 16 ? (kc - k0 + 1) / 2 : 16;
        for (int r = 0; r < Y_MR; r++) {
          uint32_t w[16];
          if (r < m) _mm512_storeu_si512(w, bf16x32(A + (i0 + s + r) * lda + p0 + k0, kc - k0));
          else memset(w, 0, sizeof w);
          for (int q = 0; q < np; q++) d[(long)(k0 / 2 + q) * Y_MR + r] = w[q];
        }
      }
    } else { /* each k gives the rows contiguous: a pair of k is a vector of words over the rows */
      const __mmask16 rows = first(m);
      for (int q = 0; q < pairs; q++) {
        const float *src = A + (p0 + 2 * q) * lda + i0 + s;
        const __m512 v1 = 2 * q + 1 < kc ? _mm512_maskz_loadu_ps(rows, src + lda) : _mm512_setzero_ps();
        _mm512_mask_storeu_epi32(d + (long)q * Y_MR, (__mmask16)0x0fff, pair_words(_mm512_maskz_loadu_ps(rows, src), v1));
      }
    }
  }
  (void)MR;
}

BF16_TARGET static inline void pack_b_bf16_core(int tb, const void *B, int half, long ldb, long p0, int kc, long j0, int nc,
                                                void *dst) {
  const int pairs = (kc + 1) / 2;
  for (int s = 0; s < nc; s += Y_NR) {
    const int ncol = nc - s < Y_NR ? nc - s : Y_NR;
    uint32_t *d = (uint32_t *)dst + (long)(s / Y_NR) * pairs * Y_NR;
    if (!tb) { /* row k of op(B) is contiguous over the columns */
      for (int q = 0; q < pairs; q++)
        for (int h = 0; h < 2; h++) {
          const long at = (p0 + 2 * q) * ldb + j0 + s + 16 * h;
          _mm512_storeu_si512(d + (long)q * Y_NR + 16 * h, pair16(elem_at(B, half, at), 2 * q + 1 < kc ? elem_at(B, half, at + ldb) : NULL, half, first(ncol - 16 * h)));
        }
    } else { /* column j of op(B) is row j of B: 32 k make 16 words over the pairs, transposed */
      for (int k0 = 0; k0 < kc; k0 += 32) {
        const int np = (kc - k0 + 1) / 2 < 16 ? (kc - k0 + 1) / 2 : 16;
        for (int h = 0; h < 2; h++) {
          __m512i v[16];
          for (int jj = 0; jj < 16; jj++) {
            const int j = 16 * h + jj;
            v[jj] = j < ncol ? row32(elem_at(B, half, (j0 + s + j) * ldb + p0 + k0), half, kc - k0) : _mm512_setzero_si512();
          }
          transpose16(v);
          for (int q = 0; q < np; q++) _mm512_storeu_si512(d + (long)(k0 / 2 + q) * Y_NR + 16 * h, v[q]);
        }
      }
    }
  }
}

BF16_TARGET static void pack_b_bf16(int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, int NR, void *dst) {
  pack_b_bf16_core(tb, B, 0, ldb, p0, kc, j0, nc, dst);
  (void)NR;
}

BF16_TARGET static void pack_b_bf16_h(int tb, const unsigned short *B, long ldb, long p0, int kc, long j0, int nc, int NR,
                                      void *dst) {
  pack_b_bf16_core(tb, B, 1, ldb, p0, kc, j0, nc, dst);
  (void)NR;
}

BF16_TARGET static void kernel_avx512bf16(long kc, const void *av, const void *bv, float *c, long ldc, float alpha,
                                          float beta, int m, int n) {
  const uint32_t *a = av;
  const float *b = bv; /* words, read as vectors */
  __m512 acc[Y_MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < Y_MR; r++) {
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 12
  for (int r = 0; r < Y_MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const long pairs = (kc + 1) / 2;
#pragma GCC unroll 2
  for (long q = 0; q < pairs; q++) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_ps(b + q * Y_NR), b1 = (__m512bh)_mm512_loadu_ps(b + q * Y_NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < Y_MR; r++) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[q * Y_MR + r]);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
    }
  }
  float t[Y_MR * Y_NR] __attribute__((aligned(64)));
  for (int r = 0; r < Y_MR; r++) {
    _mm512_store_ps(t + r * Y_NR, acc[r][0]);
    _mm512_store_ps(t + r * Y_NR + 16, acc[r][1]);
  }
  store_tile32(t, c, ldc, alpha, beta, m, n);
}

static int supported_avx512bf16(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
}
#endif

#ifdef MODELFAB_AMX
/* ---- AMX-BF16: 32 x 32 in four 16 x 16 float32 tiles; operands rounded to bfloat16 while packed ---------------
 * One k step of 32 multiplies two A tiles (16 rows x 32 bf16) by two B tiles (16 pairs of k x 16 columns, the
 * "VNNI" layout: the two bf16 of k = 2q and 2q + 1 side by side in one 32-bit word) into the four C tiles. Packed
 * layouts, per 32-deep step (depth padded with zeros to a multiple of 32):
 *   A sliver: [step][row 0..31][k 0..31]                     bf16, 2 KiB a step (tile 4: rows 0-15, tile 5: 16-31)
 *   B sliver: [step][half 0..1][pair 0..15][column 0..15][2]  bf16, 2 KiB a step (tile 6: columns 0-15, 7: 16-31)
 * Tiles hold their products in float32 (each bf16 x bf16 product is exact; sums round to nearest even). */
#define X_MR 32
#define X_NR 32
#define X_KS 32
#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

AMX_TARGET static void pack_a_amx(int ta, const float *A, long lda, long i0, int mc, long p0, int kc, int MR, void *dst) {
  const int steps = (kc + X_KS - 1) / X_KS;
  for (int s = 0; s < mc; s += X_MR) {
    const int m = mc - s < X_MR ? mc - s : X_MR;
    uint16_t *d = (uint16_t *)dst + (long)(s / X_MR) * steps * X_MR * X_KS;
    for (int q = 0; q < steps; q++) {
      const int k0 = q * X_KS, n = kc - k0 < X_KS ? kc - k0 : X_KS;
      uint16_t *t = d + (long)q * X_MR * X_KS;
      if (!ta) { /* row r's k are contiguous: one conversion a row */
        for (int r = 0; r < m; r++) _mm512_storeu_si512(t + r * X_KS, bf16x32(A + (i0 + s + r) * lda + p0 + k0, n));
        for (int r = m; r < X_MR; r++) _mm512_storeu_si512(t + r * X_KS, _mm512_setzero_si512());
      } else { /* each k gives the rows contiguous: pairs of k as words over 16 rows, transposed to rows of pairs */
        for (int h = 0; h < 2; h++) {
          const __mmask16 rows = first(m - 16 * h);
          __m512i v[16];
          for (int pr = 0; pr < 16; pr++) {
            const float *src = A + (p0 + k0 + 2 * pr) * lda + i0 + s + 16 * h;
            v[pr] = pair_words(2 * pr < n ? _mm512_maskz_loadu_ps(rows, src) : _mm512_setzero_ps(),
                               2 * pr + 1 < n ? _mm512_maskz_loadu_ps(rows, src + lda) : _mm512_setzero_ps());
          }
          transpose16(v);
          for (int r = 0; r < 16; r++) _mm512_storeu_si512(t + (16 * h + r) * X_KS, v[r]);
        }
      }
    }
  }
  (void)MR;
}

AMX_TARGET static inline void pack_b_amx_core(int tb, const void *B, int half, long ldb, long p0, int kc, long j0, int nc,
                                              void *dst) {
  const int steps = (kc + X_KS - 1) / X_KS;
  for (int s = 0; s < nc; s += X_NR) {
    const int ncol = nc - s < X_NR ? nc - s : X_NR;
    uint32_t *d = (uint32_t *)dst + (long)(s / X_NR) * steps * X_NR * (X_KS / 2);
    for (int q = 0; q < steps; q++) {
      const int k0 = q * X_KS, n = kc - k0 < X_KS ? kc - k0 : X_KS;
      uint32_t *t = d + (long)q * X_NR * (X_KS / 2);
      if (!tb) { /* row k of op(B) is contiguous over the columns */
        for (int h = 0; h < 2; h++)
          for (int pr = 0; pr < X_KS / 2; pr++) {
            const int k = 2 * pr;
            const long at = (p0 + k0 + k) * ldb + j0 + s + h * 16;
            _mm512_storeu_si512(t + (h * 16 + pr) * 16,
                                k < n ? pair16(elem_at(B, half, at), k + 1 < n ? elem_at(B, half, at + ldb) : NULL, half, first(ncol - h * 16))
                                      : _mm512_setzero_si512());
          }
      } else { /* column j of op(B) is row j of B: its 32 k make 16 words over the pairs, transposed */
        for (int h = 0; h < 2; h++) {
          __m512i v[16];
          for (int jj = 0; jj < 16; jj++) {
            const int j = 16 * h + jj;
            v[jj] = j < ncol ? row32(elem_at(B, half, (j0 + s + j) * ldb + p0 + k0), half, n) : _mm512_setzero_si512();
          }
          transpose16(v);
          for (int pr = 0; pr < 16; pr++) _mm512_storeu_si512(t + (h * 16 + pr) * 16, v[pr]);
        }
      }
    }
  }
}

AMX_TARGET static void pack_b_amx(int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, int NR, void *dst) {
  pack_b_amx_core(tb, B, 0, ldb, p0, kc, j0, nc, dst);
  (void)NR;
}

AMX_TARGET static void pack_b_amx_h(int tb, const unsigned short *B, long ldb, long p0, int kc, long j0, int nc, int NR,
                                    void *dst) {
  pack_b_amx_core(tb, B, 1, ldb, p0, kc, j0, nc, dst);
  (void)NR;
}

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_config;

/* Eight tiles of 16 rows x 64 bytes. Kept in static storage: GCC does not see that ldtilecfg reads its operand,
 * so a configuration built on the stack can be optimised away before the instruction runs. */
static const amx_config AMX_CONFIG = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

AMX_TARGET static void amx_begin(void) { _tile_loadconfig(&AMX_CONFIG); }

AMX_TARGET static void amx_end(void) { _tile_release(); }

AMX_TARGET static void kernel_amx(long kc, const void *a, const void *b, float *c, long ldc, float alpha, float beta,
                                  int m, int n) {
  const long steps = (kc + X_KS - 1) / X_KS;
  const char *pa = a, *pb = b;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (long q = 0; q < steps; q++) {
    _tile_loadd(4, pa + q * 2048, 64);
    _tile_loadd(6, pb + q * 2048, 64);
    _tile_loadd(5, pa + q * 2048 + 1024, 64);
    _tile_loadd(7, pb + q * 2048 + 1024, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  float t[X_MR * X_NR] __attribute__((aligned(64)));
  _tile_stored(0, t, X_NR * 4);
  _tile_stored(1, t + 16, X_NR * 4);
  _tile_stored(2, t + 16 * X_NR, X_NR * 4);
  _tile_stored(3, t + 16 * X_NR + 16, X_NR * 4);
  store_tile32(t, c, ldc, alpha, beta, m, n);
}

/* The processor has AMX-BF16 and the kernel lets this process use the tiles (Linux asks each process to request
 * them: arch_prctl(ARCH_REQ_XCOMP_PERM)). Asked once. */
static int supported_amx(void) {
  static int answer = -1;
  if (answer >= 0) return answer;
  __builtin_cpu_init();
  answer = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16") &&
           __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
           syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
  return answer;
}
#endif

const sgemm_isa SGEMM_ISAS[] = {
#ifdef MODELFAB_X86
    {.name = "avx512", .mr = Z_MR, .nr = Z_NR, .kc = 256, .mc = 12 * 16, .nc = 32 * 64, .kernel = kernel_avx512,
     .small = small_avx512, .supported = supported_avx512},
    {.name = "avx2+fma", .mr = H_MR, .nr = H_NR, .kc = 256, .mc = 6 * 24, .nc = 16 * 128, .kernel = kernel_avx2,
     .small = small_avx2, .supported = supported_avx2},
#endif
    {.name = "generic", .mr = G_MR, .nr = G_NR, .kc = 256, .mc = 4 * 32, .nc = 8 * 256, .kernel = kernel_generic,
     .small = small_generic, .supported = supported_always},
#ifdef MODELFAB_AMX
    {.name = "amx-bf16", .mr = X_MR, .nr = X_NR, .kc = 256, .mc = 32 * 8, .nc = 32 * 64, .kernel = kernel_amx,
     .small = small_avx512, .supported = supported_amx, .bf16 = 1, .kstep = X_KS, .elem = 2, .pack_a = pack_a_amx,
     .pack_b = pack_b_amx, .pack_b_h = pack_b_amx_h, .begin = amx_begin, .end = amx_end},
#endif
#ifdef MODELFAB_BF16
    {.name = "avx512-bf16", .mr = Y_MR, .nr = Y_NR, .kc = 512, .mc = 12 * 16, .nc = 32 * 64, .kernel = kernel_avx512bf16,
     .small = small_avx512, .supported = supported_avx512bf16, .bf16 = 1, .kstep = 2, .elem = 2, .pack_a = pack_a_bf16,
     .pack_b = pack_b_bf16, .pack_b_h = pack_b_bf16_h},
#endif
};
const int SGEMM_NUM_ISAS = (int)(sizeof SGEMM_ISAS / sizeof SGEMM_ISAS[0]);

int sgemm_best_isa(void) {
  for (int i = 0; i < SGEMM_NUM_ISAS; i++)
    if (!SGEMM_ISAS[i].bf16 && SGEMM_ISAS[i].supported()) return i;
  return 0;
}

int sgemm_best_bf16_isa(void) {
  for (int i = 0; i < SGEMM_NUM_ISAS; i++)
    if (SGEMM_ISAS[i].bf16 && SGEMM_ISAS[i].supported()) return i;
  return -1;
}
