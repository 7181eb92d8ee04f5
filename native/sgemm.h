/*
 * modelfab's own single-precision gemm (no BLAS needed): C = alpha * op(A) * op(B) + beta * C, row-major.
 *
 * The shape of the algorithm is BLIS's: C is cut into NC-wide column blocks and KC-deep slices of K; each slice of
 * op(B) is packed into NR-wide slivers, each MC-tall block of op(A) into MR-tall slivers (zero-padded at the
 * edges), and an MR x NR register-blocked micro-kernel multiplies one sliver pair. Packing resolves the transposes,
 * so all four (NN, NT, TN, TT) run the same micro-kernel. One micro-kernel per instruction set (sgemm-kernels.c),
 * each compiled with its own target attribute and chosen at run time by what the processor supports.
 *
 * Results do not depend on the thread count: threads split C at MR/NR multiples, and each element is summed over K
 * in the same order whatever the split.
 */
#ifndef MODELFAB_SGEMM_H
#define MODELFAB_SGEMM_H

/* c (m x n of an MR x NR tile, m <= MR, n <= NR, row stride ldc) = alpha * a.b + beta * c; beta == 0 overwrites.
 * a: MR x kc packed k-major (a[k * MR + r]); b: kc x NR packed (b[k * NR + j]), in the float32 kernels; a bf16
 * kernel reads its own packers' layouts (sgemm-kernels.c). The full tile is always computed (packing pads with
 * zeros); only m x n elements are stored. Stored as t = alpha * acc, c = fma(beta, c, t). */
typedef void (*sgemm_ukernel)(long kc, const void *a, const void *b, float *c, long ldc, float alpha, float beta,
                              int m, int n);

/* A packer with sgemm_pack_a's (or sgemm_pack_b's) arguments, writing the kernel's own layout into dst. */
typedef void (*sgemm_packer)(int trans, const float *X, long ldx, long i0, int mc, long p0, int kc, int R, void *dst);
/* The same for a B given as bfloat16 bits (a frozen bf16 weight): each value is the float whose top half it is. */
typedef void (*sgemm_packer_h)(int trans, const unsigned short *X, long ldx, long p0, int kc, long j0, int nc, int R,
                               void *dst);

/* C[i0..i1, j0..j1] of one product, with op(A)[i, k] = ta ? A[k * lda + i] : A[i * lda + k] and op(B) alike. */
typedef struct sgemm_isa sgemm_isa;
typedef struct {
  const sgemm_isa *isa;
  int ta, tb, K;
  long lda, ldb, ldc;
  float alpha, beta;
  const float *A, *B;
  const unsigned short *Bh; /* B as bfloat16 bits instead of B (sgemm_run_ld_hb) */
  float *C;
  long i0, i1, j0, j1;
  int small; /* the whole product has at most SGEMM_SMALL_M rows: every part takes the unpacked path */
} sgemm_part;

/* Products with at most SGEMM_SMALL_M rows (a decoding step's x . W) skip packing: one pass over B per row, with
 * `scratch` holding at least max(N, K) floats. */
#define SGEMM_SMALL_M 2
typedef void (*sgemm_small)(const sgemm_part *p, float *scratch);

struct sgemm_isa {
  const char *name;      /* "avx512", "avx2+fma", "generic", "amx-bf16", "avx512-bf16" */
  int mr, nr;            /* micro-tile */
  int kc, mc, nc;        /* cache blocks (mc a multiple of mr, nc of nr) */
  sgemm_ukernel kernel;
  sgemm_small small;
  int (*supported)(void);
  /* Mixed precision: bf16 != 0 when the kernel multiplies the operands rounded to bfloat16 (round to nearest even,
   * as the packers write them) and sums the products in float32, as PyTorch's autocast does. Such a kernel is never
   * the default (sgemm_best_isa skips it); a caller asks for it by name. NULL packers mean sgemm_pack_a/_b; a
   * packed sliver holds MR (NR) x kc rounded up to kstep values of `elem` bytes. begin/end (or NULL) run around
   * one thread's part of a product (AMX: load the tile configuration, release the tiles). */
  int bf16, kstep, elem;
  sgemm_packer pack_a, pack_b;
  sgemm_packer_h pack_b_h; /* B from bf16 bits; NULL: sgemm_pack_b_h (float32 layouts only) */
  void (*begin)(void), (*end)(void);
};

/* The bytes of one packed sliver of R rows (columns) and depth kc; depth k0 (a multiple of kstep) of a sliver
 * starts R * k0 * elem bytes in. */
static inline unsigned long sgemm_sliver_bytes(const sgemm_isa *isa, int R, int kc) {
  const int step = isa->kstep > 1 ? isa->kstep : 1;
  return (unsigned long)R * (unsigned long)((kc + step - 1) / step * step) * (unsigned long)(isa->elem ? isa->elem : 4);
}

/* The isa's packers: its own for a bf16 kernel, else sgemm_pack_a / sgemm_pack_b. */
void sgemm_isa_pack_a(const sgemm_isa *isa, int ta, const float *A, long lda, long i0, int mc, long p0, int kc, void *dst);
void sgemm_isa_pack_b(const sgemm_isa *isa, int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, void *dst);

/* Every kernel this build has: the float32 ones fastest first, the last of them ("generic") runs everywhere; then
 * the mixed-precision ones. */
extern const sgemm_isa SGEMM_ISAS[];
extern const int SGEMM_NUM_ISAS;

/* The index in SGEMM_ISAS of the fastest float32 kernel this processor runs. */
int sgemm_best_isa(void);

/* The index of the fastest mixed-precision (bf16) kernel this processor runs, or -1. */
int sgemm_best_bf16_isa(void);

/* The micro-kernel's operand layouts, for callers that run the kernel themselves (native/attention.c), with
 * op(A)[i, k] = ta ? A[k * lda + i] : A[i * lda + k] and op(B) alike:
 *   sgemm_pack_a: op(A) rows i0..i0+mc, depth p0..p0+kc, as MR-tall slivers, dst[s * kc + k * MR + r] for the
 *                 sliver of rows s..s+MR (rows past mc are 0);
 *   sgemm_pack_b: op(B) depth p0..p0+kc, columns j0..j0+nc, as NR-wide slivers, dst[s * kc + k * NR + j] for the
 *                 sliver of columns s..s+NR (columns past nc are 0). MR and NR are at most 64. */
void sgemm_pack_a(int ta, const float *A, long lda, long i0, int mc, long p0, int kc, int MR, float *restrict dst);
void sgemm_pack_b(int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, int NR, float *restrict dst);

/* The product on up to `threads` threads (the caller's included). Sizes are >= 0 and the arrays long enough. */
void sgemm_run(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
               const float *B, float beta, float *C);

/* The same on sub-matrices: row strides lda, ldb, ldc (>= the stored row lengths) instead of packed rows. */
void sgemm_run_ld(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  long lda, const float *B, long ldb, float beta, float *C, long ldc);

/* The product with B given as bfloat16 bits (a frozen bf16 weight), packed straight from them: the same bits as
 * sgemm_run_ld on the widened B, without widening it into memory first. Returns 0 (nothing done) when memory for a
 * path that needs B widened (a product of one or two rows, or of few columns) cannot be allocated. */
int sgemm_run_ld_hb(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                    long lda, const unsigned short *Bh, long ldb, float beta, float *C, long ldc);

/* op(B) from bf16 bits into the float32 kernels' layout (sgemm_pack_b's). */
void sgemm_pack_b_h(int tb, const unsigned short *B, long ldb, long p0, int kc, long j0, int nc, int NR, void *dst);

#endif
