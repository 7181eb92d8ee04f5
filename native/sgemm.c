/*
 * The driver of the own sgemm (contract in sgemm.h): blocking, packing, and the split over threads.
 *
 * Loops, outermost first (BLIS's five loops around the micro-kernel):
 *   1. jc: NC-wide column blocks of C
 *   2. pc: KC-deep slices of K; op(B)[pc.., jc..] packed into NR-wide slivers (the first slice applies beta, the
 *      rest accumulate)
 *   3. ic: MC-tall row blocks; op(A)[ic.., pc..] packed into MR-tall slivers
 *   4. jr, 5. ir: the micro-kernel over one A sliver (in L1/L2) and one B sliver
 *
 * Threads: a problem of at least PARALLEL_MIN multiply-adds is cut into one part per thread along the longer side
 * of C (at MR/NR multiples); the caller and the pool's workers (pool.h) take parts as they come free. A call made
 * while the pool is busy (another caller, or from inside a pool task) runs every part on its own thread.
 */
#define _GNU_SOURCE
#include "sgemm.h"
#include "pool.h"
#include "multiversion.h"
#include <stdlib.h>
#include <string.h>

#define PARALLEL_MIN (1L << 18) /* multiply-adds below which one thread is faster than waking another */

/* ---- packing ------------------------------------------------------------------------------------------------ */

/* op(A) rows i0..i0+mc, depth p0..p0+kc, into MR-tall slivers: dst[s * kc * MR + k * MR + r]. */
void sgemm_pack_a(int ta, const float *A, long lda, long i0, int mc, long p0, int kc, int MR, float *restrict dst) {
  for (int s = 0; s < mc; s += MR) {
    const int m = mc - s < MR ? mc - s : MR;
    float *d = dst + (long)s * kc;
    if (!ta) { /* op(A)[i, k] = A[i * lda + k]: MR row streams, written k by k */
      const float *rows[64];
      for (int r = 0; r < m; r++) rows[r] = A + (i0 + s + r) * lda + p0;
      for (int k = 0; k < kc; k++) {
        for (int r = 0; r < m; r++) d[k * MR + r] = rows[r][k];
        for (int r = m; r < MR; r++) d[k * MR + r] = 0.0f;
      }
    } else { /* op(A)[i, k] = A[k * lda + i]: each k gives MR contiguous rows */
      for (int k = 0; k < kc; k++) {
        const float *src = A + (p0 + k) * lda + i0 + s;
        for (int r = 0; r < m; r++) d[k * MR + r] = src[r];
        for (int r = m; r < MR; r++) d[k * MR + r] = 0.0f;
      }
    }
  }
}

/* op(B) depth p0..p0+kc, columns j0..j0+nc, into NR-wide slivers: dst[s * kc * NR + k * NR + j]. */
void sgemm_pack_b(int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, int NR, float *restrict dst) {
  for (int s = 0; s < nc; s += NR) {
    const int n = nc - s < NR ? nc - s : NR;
    float *d = dst + (long)s * kc;
    if (!tb) { /* op(B)[k, j] = B[k * ldb + j] */
      for (int k = 0; k < kc; k++) {
        const float *src = B + (p0 + k) * ldb + j0 + s;
        for (int j = 0; j < n; j++) d[k * NR + j] = src[j];
        for (int j = n; j < NR; j++) d[k * NR + j] = 0.0f;
      }
    } else { /* op(B)[k, j] = B[j * ldb + k]: NR row streams, written k by k */
      const float *rows[64];
      for (int j = 0; j < n; j++) rows[j] = B + (j0 + s + j) * ldb + p0;
      for (int k = 0; k < kc; k++) {
        for (int j = 0; j < n; j++) d[k * NR + j] = rows[j][k];
        for (int j = n; j < NR; j++) d[k * NR + j] = 0.0f;
      }
    }
  }
}

/* The float whose top half the bf16 bits h are (exact). */
static inline float widen(unsigned short h) {
  const unsigned int u = (unsigned int)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

void sgemm_pack_b_h(int tb, const unsigned short *B, long ldb, long p0, int kc, long j0, int nc, int NR, void *dst) {
  for (int s = 0; s < nc; s += NR) {
    const int n = nc - s < NR ? nc - s : NR;
    float *d = (float *)dst + (long)s * kc;
    for (int k = 0; k < kc; k++) {
      for (int j = 0; j < n; j++) d[k * NR + j] = widen(tb ? B[(j0 + s + j) * ldb + p0 + k] : B[(p0 + k) * ldb + j0 + s + j]);
      for (int j = n; j < NR; j++) d[k * NR + j] = 0.0f;
    }
  }
}

/* ---- one thread's part: C[i0..i1, j0..j1] ------------------------------------------------------------------- */

typedef sgemm_part part_t;

/* Per-thread packing buffers, grown on demand and kept (a training run calls with the same shapes). */
static __thread float *buf_a, *buf_b;
static __thread size_t cap_a, cap_b;

static float *grow(float **buf, size_t *cap, size_t need) {
  if (need <= *cap) return *buf;
  free(*buf);
  size_t bytes = (need * sizeof(float) + 63) & ~(size_t)63;
  *buf = aligned_alloc(64, bytes);
  *cap = *buf ? need : 0;
  return *buf;
}

void sgemm_isa_pack_a(const sgemm_isa *isa, int ta, const float *A, long lda, long i0, int mc, long p0, int kc, void *dst) {
  if (isa->pack_a) isa->pack_a(ta, A, lda, i0, mc, p0, kc, isa->mr, dst);
  else sgemm_pack_a(ta, A, lda, i0, mc, p0, kc, isa->mr, dst);
}

void sgemm_isa_pack_b(const sgemm_isa *isa, int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, void *dst) {
  if (isa->pack_b) isa->pack_b(tb, B, ldb, p0, kc, j0, nc, isa->nr, dst);
  else sgemm_pack_b(tb, B, ldb, p0, kc, j0, nc, isa->nr, dst);
}

/* Returns 0 when the packing buffers could not be allocated. */
static int run_part(const part_t *p) {
  const sgemm_isa *isa = p->isa;
  const int MR = isa->mr, NR = isa->nr;
  const long M = p->i1 - p->i0, N = p->j1 - p->j0;
  const int KC = isa->kc < p->K ? isa->kc : p->K;
  const long NCmax = N < isa->nc ? (N + NR - 1) / NR * NR : isa->nc;
  const long MCmax = M < isa->mc ? (M + MR - 1) / MR * MR : isa->mc;
  char *pa = (char *)grow(&buf_a, &cap_a, (sgemm_sliver_bytes(isa, (int)MCmax, KC) + 3) / 4);
  char *pb = (char *)grow(&buf_b, &cap_b, (sgemm_sliver_bytes(isa, (int)NCmax, KC) + 3) / 4);
  if (!pa || !pb) return 0;
  if (isa->begin) isa->begin();
  for (long jc = p->j0; jc < p->j1; jc += isa->nc) {
    const int nc = (int)(p->j1 - jc < isa->nc ? p->j1 - jc : isa->nc);
    for (int pc = 0; pc < p->K; pc += KC) {
      const int kc = p->K - pc < KC ? p->K - pc : KC;
      const float beta = pc == 0 ? p->beta : 1.0f;
      const size_t a_sliver = sgemm_sliver_bytes(isa, MR, kc), b_sliver = sgemm_sliver_bytes(isa, NR, kc);
      if (p->Bh && isa->pack_b_h) isa->pack_b_h(p->tb, p->Bh, p->ldb, pc, kc, jc, nc, NR, pb);
      else if (p->Bh) sgemm_pack_b_h(p->tb, p->Bh, p->ldb, pc, kc, jc, nc, NR, pb);
      else sgemm_isa_pack_b(isa, p->tb, p->B, p->ldb, pc, kc, jc, nc, pb);
      for (long ic = p->i0; ic < p->i1; ic += isa->mc) {
        const int mc = (int)(p->i1 - ic < isa->mc ? p->i1 - ic : isa->mc);
        sgemm_isa_pack_a(isa, p->ta, p->A, p->lda, ic, mc, pc, kc, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          const int n = nc - jr < NR ? nc - jr : NR;
          const char *bs = pb + (size_t)(jr / NR) * b_sliver;
          for (int ir = 0; ir < mc; ir += MR) {
            const int m = mc - ir < MR ? mc - ir : MR;
            isa->kernel(kc, pa + (size_t)(ir / MR) * a_sliver, bs, p->C + (ic + ir) * p->ldc + jc + jr, p->ldc, p->alpha,
                        beta, m, n);
          }
        }
      }
    }
  }
  if (isa->end) isa->end();
  return 1;
}

/* A reference loop for when packing memory is exhausted: slow but never wrong. */
static void run_part_unpacked(const part_t *p) {
  for (long i = p->i0; i < p->i1; i++)
    for (long j = p->j0; j < p->j1; j++) {
      float acc = 0.0f;
      for (long k = 0; k < p->K; k++) {
        const long at = p->tb ? j * p->ldb + k : k * p->ldb + j;
        acc += (p->ta ? p->A[k * p->lda + i] : p->A[i * p->lda + k]) * (p->Bh ? widen(p->Bh[at]) : p->B[at]);
      }
      float *c = p->C + i * p->ldc + j;
      const float t = p->alpha * acc;
      *c = p->beta == 0.0f ? t : __builtin_fmaf(p->beta, *c, t);
    }
}

static void compute(const part_t *p) {
  if (p->i0 >= p->i1 || p->j0 >= p->j1) return;
  if (p->small) {
    const long n = p->j1 - p->j0, need = n > p->K ? n : p->K;
    float *scratch = grow(&buf_b, &cap_b, (size_t)need);
    if (scratch) p->isa->small(p, scratch);
    else run_part_unpacked(p);
    return;
  }
  if (!run_part(p)) run_part_unpacked(p);
}

static void compute_task(void *parts, int i) { compute((const part_t *)parts + i); }

/* A product of few columns and many rows (a LoRA adapter's x . A^T, N = its rank) would fill a quarter of each
 * micro-tile's width or less. It runs as C^T = op(B)^T op(A)^T instead (rows are MR, not NR, at a time) into a
 * scratch, added back transposed as the kernel stores (c = fma(beta, c, alpha * acc)): the same bits when K fits one
 * KC slice, else the slices' sum is rounded before beta * c is added. Whatever the thread count, the same bits.
 * Returns 0 (nothing done) when the scratch cannot be allocated. */
static int transposed(const part_t *w, int threads) {
  const long M = w->i1, N = w->j1;
  float *ct = malloc(sizeof(float) * (size_t)(M * N));
  if (!ct) return 0;
  sgemm_run_ld(w->isa, threads, !w->tb, !w->ta, (int)N, (int)M, w->K, w->alpha, w->B, w->ldb, w->A, w->lda, 0.0f, ct, M);
  for (long i = 0; i < M; i++) {
    float *c = w->C + i * w->ldc;
    for (long j = 0; j < N; j++) c[j] = w->beta == 0.0f ? ct[j * M + i] : __builtin_fmaf(w->beta, c[j], ct[j * M + i]);
  }
  free(ct);
  return 1;
}

/* The same shape with op(A)'s rows contiguous (ta = 0: x . A^T, x . A): every element is one dot product of a row
 * of A with a column of op(B), both in cache, so nothing of A (the large operand) is packed. op(B) is transposed
 * into a scratch when its columns are strided (tb = 0). The dot runs in THIN_LANES float lanes, in a fixed order
 * (other bits than the packed path's, the same on any thread count); rows are split over threads. */
#define THIN_LANES 16
#define THIN_ROWS 64 /* rows per task */

typedef struct {
  const part_t *w;
  const float *bt; /* op(B)^T: N rows of K */
} thin_job;

MULTIVERSION static void thin_rows(const part_t *w, const float *restrict bt, long i0, long i1) {
  const long N = w->j1, K = w->K;
  for (long i = i0; i < i1; i++) {
    const float *a = w->A + i * w->lda;
    float *c = w->C + i * w->ldc;
    for (long j = 0; j < N; j++) {
      const float *b = bt + j * K;
      float acc[THIN_LANES] = {0};
      long k = 0;
      for (; k + THIN_LANES <= K; k += THIN_LANES)
        for (int l = 0; l < THIN_LANES; l++) acc[l] += a[k + l] * b[k + l];
      for (; k < K; k++) acc[0] += a[k] * b[k];
      float sum = 0.0f;
      for (int l = 0; l < THIN_LANES; l++) sum += acc[l];
      const float t = w->alpha * sum;
      c[j] = w->beta == 0.0f ? t : __builtin_fmaf(w->beta, c[j], t);
    }
  }
}

static void thin_task(void *arg, int i) {
  const thin_job *j = arg;
  const long i0 = (long)i * THIN_ROWS, i1 = i0 + THIN_ROWS < j->w->i1 ? i0 + THIN_ROWS : j->w->i1;
  thin_rows(j->w, j->bt, i0, i1);
}

/* Returns 0 (nothing done) when op(B) needs a transposed copy and it cannot be allocated. */
static int thin(const part_t *w, int threads) {
  const long N = w->j1, K = w->K;
  float *copy = NULL;
  const float *bt = w->B;
  if (!w->tb || w->ldb != K) { /* op(B)^T[j, k] = tb ? B[j * ldb + k] : B[k * ldb + j] */
    copy = malloc(sizeof(float) * (size_t)(N * K));
    if (!copy) return 0;
    for (long j = 0; j < N; j++)
      for (long k = 0; k < K; k++) copy[j * K + k] = w->tb ? w->B[j * w->ldb + k] : w->B[k * w->ldb + j];
    bt = copy;
  }
  thin_job job = {w, bt};
  const long work = w->i1 * N * K;
  pool_run(work < PARALLEL_MIN ? 1 : threads, (int)((w->i1 + THIN_ROWS - 1) / THIN_ROWS), thin_task, &job);
  free(copy);
  return 1;
}

/* ---- entry -------------------------------------------------------------------------------------------------- */

void sgemm_run(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
               const float *B, float beta, float *C) {
  sgemm_run_ld(isa, threads, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

/* The packed paths of a product, split over threads. */
static void run_parts(part_t whole, int threads) {
  const sgemm_isa *isa = whole.isa;
  const long M = whole.i1, N = whole.j1;
  if (threads > POOL_MAX_THREADS) threads = POOL_MAX_THREADS;
  const long work = M * N * whole.K;
  if (threads <= 1 || work < PARALLEL_MIN) {
    compute(&whole);
    return;
  }
  /* Cut the longer side of C (in micro-tiles) into one part per thread. */
  part_t parts[POOL_MAX_THREADS];
  /* compare in tiles: N / NR vs M / MR; the unpacked path always splits columns */
  const int split_n = whole.small || N * isa->mr >= M * isa->nr;
  const long len = split_n ? N : M, unit = split_n ? isa->nr : isa->mr;
  const long tiles = (len + unit - 1) / unit;
  const int n = threads;
  int used = 0;
  for (int t = 0; t < n; t++) {
    const long a = tiles * t / n * unit, b = t == n - 1 ? len : tiles * (t + 1) / n * unit;
    if (a >= b) continue;
    parts[used] = whole;
    if (split_n) parts[used].j0 = a, parts[used].j1 = b;
    else parts[used].i0 = a, parts[used].i1 = b;
    used++;
  }
  pool_run(threads, used, compute_task, parts);
}

/* Products of few columns and many rows take the thin or transposed path (below sgemm_run_ld). */
static int few_columns(const sgemm_isa *isa, int M, int N) { return N * 4 <= isa->nr && M >= 4 * isa->mr && M > SGEMM_SMALL_M; }

void sgemm_run_ld(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  long lda, const float *B, long ldb, float beta, float *C, long ldc) {
  part_t whole = {isa, ta, tb, K, lda, ldb, ldc, alpha, beta, A, B, NULL, C, 0, M, 0, N, M <= SGEMM_SMALL_M};
  if (few_columns(isa, M, N)) {
    if (!ta && thin(&whole, threads)) return;
    if (ta && transposed(&whole, threads)) return;
  }
  run_parts(whole, threads);
}

int sgemm_run_ld_hb(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                    long lda, const unsigned short *Bh, long ldb, float beta, float *C, long ldc) {
  if (M <= SGEMM_SMALL_M || few_columns(isa, M, N)) { /* paths that read B unpacked: widen it first */
    const long rows = tb ? N : K, cols = tb ? K : N;
    float *b = malloc(sizeof(float) * (size_t)(rows * cols > 0 ? rows * cols : 1));
    if (!b) return 0;
    for (long r = 0; r < rows; r++)
      for (long c = 0; c < cols; c++) b[r * cols + c] = widen(Bh[r * ldb + c]);
    sgemm_run_ld(isa, threads, ta, tb, M, N, K, alpha, A, lda, b, cols, beta, C, ldc);
    free(b);
    return 1;
  }
  part_t whole = {isa, ta, tb, K, lda, ldb, ldc, alpha, beta, A, NULL, Bh, C, 0, M, 0, N, 0};
  run_parts(whole, threads);
  return 1;
}
