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
 * of C (at MR/NR multiples); the caller and the pool's workers take parts as they come free. Workers spin briefly
 * after a job (the next gemm of a training step usually follows within microseconds), then sleep on a condition
 * variable. The pool serves one caller at a time: a second thread calling meanwhile runs single-threaded.
 */
#define _GNU_SOURCE
#include "sgemm.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define MAX_THREADS 64
#define PARALLEL_MIN (1L << 18) /* multiply-adds below which one thread is faster than waking another */
#define SPIN_NS 200000L         /* how long an idle worker spins before sleeping */

/* ---- packing ------------------------------------------------------------------------------------------------ */

/* op(A) rows i0..i0+mc, depth p0..p0+kc, into MR-tall slivers: dst[s * kc * MR + k * MR + r]. */
static void pack_a(int ta, const float *A, long lda, long i0, int mc, long p0, int kc, int MR, float *restrict dst) {
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
static void pack_b(int tb, const float *B, long ldb, long p0, int kc, long j0, int nc, int NR, float *restrict dst) {
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

/* Returns 0 when the packing buffers could not be allocated. */
static int run_part(const part_t *p) {
  const sgemm_isa *isa = p->isa;
  const int MR = isa->mr, NR = isa->nr;
  const long M = p->i1 - p->i0, N = p->j1 - p->j0;
  const int KC = isa->kc < p->K ? isa->kc : p->K;
  const long NCmax = N < isa->nc ? (N + NR - 1) / NR * NR : isa->nc;
  const long MCmax = M < isa->mc ? (M + MR - 1) / MR * MR : isa->mc;
  float *pa = grow(&buf_a, &cap_a, (size_t)MCmax * KC);
  float *pb = grow(&buf_b, &cap_b, (size_t)NCmax * KC);
  if (!pa || !pb) return 0;
  for (long jc = p->j0; jc < p->j1; jc += isa->nc) {
    const int nc = (int)(p->j1 - jc < isa->nc ? p->j1 - jc : isa->nc);
    for (int pc = 0; pc < p->K; pc += KC) {
      const int kc = p->K - pc < KC ? p->K - pc : KC;
      const float beta = pc == 0 ? p->beta : 1.0f;
      pack_b(p->tb, p->B, p->ldb, pc, kc, jc, nc, NR, pb);
      for (long ic = p->i0; ic < p->i1; ic += isa->mc) {
        const int mc = (int)(p->i1 - ic < isa->mc ? p->i1 - ic : isa->mc);
        pack_a(p->ta, p->A, p->lda, ic, mc, pc, kc, MR, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          const int n = nc - jr < NR ? nc - jr : NR;
          const float *bs = pb + (long)jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            const int m = mc - ir < MR ? mc - ir : MR;
            isa->kernel(kc, pa + (long)ir * kc, bs, p->C + (ic + ir) * p->ldc + jc + jr, p->ldc, p->alpha, beta, m, n);
          }
        }
      }
    }
  }
  return 1;
}

/* A reference loop for when packing memory is exhausted: slow but never wrong. */
static void run_part_unpacked(const part_t *p) {
  for (long i = p->i0; i < p->i1; i++)
    for (long j = p->j0; j < p->j1; j++) {
      float acc = 0.0f;
      for (long k = 0; k < p->K; k++)
        acc += (p->ta ? p->A[k * p->lda + i] : p->A[i * p->lda + k]) * (p->tb ? p->B[j * p->ldb + k] : p->B[k * p->ldb + j]);
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

/* ---- the pool ----------------------------------------------------------------------------------------------- */

/* A job is `count` parts; whoever is free takes the next one through one atomic ticket (generation : count : next
 * index), so the caller computes every part itself when a worker has not woken up yet (a busy machine) and never
 * waits for a thread that has no work. Workers only read a part after taking it from the current ticket, and the
 * caller publishes the next job only after every part of this one is done. */
static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER; /* one caller at a time */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static atomic_uint generation;                                 /* bumped once per parallel job */
static _Atomic unsigned long long ticket;                      /* generation << 32 | count << 16 | next */
static atomic_int done;                                        /* parts of the current job finished */
static int workers_started;                                    /* guarded by pool_busy */
static part_t parts[MAX_THREADS];
static unsigned start_generation[MAX_THREADS];                 /* the generation a worker was started in */

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* The index of the next part of job `gen`, or -1 when that job has none left (or is over). */
static int take_part(unsigned gen) {
  unsigned long long t = atomic_load_explicit(&ticket, memory_order_acquire);
  for (;;) {
    const unsigned idx = (unsigned)(t & 0xffff), count = (unsigned)((t >> 16) & 0xffff);
    if ((unsigned)(t >> 32) != gen || idx >= count) return -1;
    if (atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
      return (int)idx;
  }
}

static void run_parts(unsigned gen) {
  int i;
  while ((i = take_part(gen)) >= 0) {
    compute(&parts[i]);
    atomic_fetch_add_explicit(&done, 1, memory_order_release);
  }
}

static void *worker_main(void *arg) {
  const int id = (int)(long)arg;
  unsigned seen = start_generation[id]; /* not the current one: the first job may be posted before this runs */
  for (;;) {
    unsigned g = atomic_load_explicit(&generation, memory_order_acquire);
    if (g == seen) {
      const long deadline = now_ns() + SPIN_NS;
      while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
        for (int i = 0; i < 64; i++) cpu_relax();
        if (now_ns() > deadline) break;
      }
      if (g == seen) {
        pthread_mutex_lock(&wake_lock);
        while ((g = atomic_load(&generation)) == seen) pthread_cond_wait(&wake_cond, &wake_lock);
        pthread_mutex_unlock(&wake_lock);
      }
    }
    seen = g;
    run_parts(g);
  }
  return NULL;
}

/* Starts workers 1..n-1 (once each); returns how many threads can compute (1 + started workers, at most n). */
static int ensure_workers(int n) {
  while (workers_started + 1 < n) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    start_generation[workers_started + 1] = atomic_load(&generation);
    const int ok = pthread_create(&t, &attr, worker_main, (void *)(long)(workers_started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    workers_started++;
  }
  return workers_started + 1 < n ? workers_started + 1 : n;
}

/* ---- entry -------------------------------------------------------------------------------------------------- */

void sgemm_run(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
               const float *B, float beta, float *C) {
  sgemm_run_ld(isa, threads, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

void sgemm_run_ld(const sgemm_isa *isa, int threads, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  long lda, const float *B, long ldb, float beta, float *C, long ldc) {
  part_t whole = {isa, ta, tb, K, lda, ldb, ldc, alpha, beta, A, B, C, 0, M, 0, N, M <= SGEMM_SMALL_M};
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  const long work = (long)M * N * K;
  if (threads <= 1 || work < PARALLEL_MIN || pthread_mutex_trylock(&pool_busy) != 0) {
    compute(&whole);
    return;
  }
  /* Cut the longer side of C (in micro-tiles) into one part per thread. */
  const int n = ensure_workers(threads);
  /* compare in tiles: N / NR vs M / MR; the unpacked path always splits columns */
  const int split_n = whole.small || (long)N * isa->mr >= (long)M * isa->nr;
  const long len = split_n ? N : M, unit = split_n ? isa->nr : isa->mr;
  const long tiles = (len + unit - 1) / unit;
  int used = 0;
  for (int t = 0; t < n; t++) {
    const long a = tiles * t / n * unit, b = t == n - 1 ? len : tiles * (t + 1) / n * unit;
    if (a >= b) continue;
    parts[used] = whole;
    if (split_n) parts[used].j0 = a, parts[used].j1 = b;
    else parts[used].i0 = a, parts[used].i1 = b;
    used++;
  }
  if (used <= 1) {
    pthread_mutex_unlock(&pool_busy);
    compute(&whole);
    return;
  }
  const unsigned gen = atomic_load(&generation) + 1;
  atomic_store(&done, 0);
  atomic_store_explicit(&ticket, (unsigned long long)gen << 32 | (unsigned long long)used << 16, memory_order_release);
  pthread_mutex_lock(&wake_lock);
  atomic_store_explicit(&generation, gen, memory_order_release);
  pthread_cond_broadcast(&wake_cond);
  pthread_mutex_unlock(&wake_lock);
  run_parts(gen);
  /* a worker still on its part: spin a little, then give the core away (on a busy machine it may be waiting) */
  for (int spins = 0; atomic_load_explicit(&done, memory_order_acquire) < used; spins++) {
    if (spins < 2000) cpu_relax();
    else sched_yield();
  }
  pthread_mutex_unlock(&pool_busy);
}
