/*
 * The thread pool (contract in pool.h).
 *
 * A job is `count` task indices; whoever is free takes the next one through one atomic ticket (generation : count :
 * next index), so the caller runs every index itself when a worker has not woken up yet (a busy machine) and never
 * waits for a thread that has no work. Workers only read the job after taking an index from the current ticket, and
 * the caller publishes the next job only after every index of this one is done.
 */
#define _GNU_SOURCE
#include "pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 200000L /* how long an idle worker spins before sleeping */

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER; /* one caller at a time */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static atomic_uint generation;                                 /* bumped once per parallel job */
static _Atomic unsigned long long ticket;                      /* generation << 32 | count << 16 | next */
static atomic_int done;                                        /* indices of the current job finished */
static int workers_started;                                    /* guarded by pool_busy */
static pool_task job_fn;                                       /* the current job, written before its ticket */
static void *job_arg;
static unsigned start_generation[POOL_MAX_THREADS];            /* the generation a worker was started in */

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* The next index of job `gen`, or -1 when that job has none left (or is over). */
static int take_index(unsigned gen) {
  unsigned long long t = atomic_load_explicit(&ticket, memory_order_acquire);
  for (;;) {
    const unsigned idx = (unsigned)(t & 0xffff), count = (unsigned)((t >> 16) & 0xffff);
    if ((unsigned)(t >> 32) != gen || idx >= count) return -1;
    if (atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
      return (int)idx;
  }
}

static void run_indices(unsigned gen) {
  int i;
  while ((i = take_index(gen)) >= 0) {
    job_fn(job_arg, i);
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
    run_indices(g);
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

void pool_run(int threads, int count, pool_task fn, void *arg) {
  if (count <= 0) return;
  if (threads > POOL_MAX_THREADS) threads = POOL_MAX_THREADS;
  if (threads > count) threads = count;
  if (threads <= 1 || count > POOL_MAX_TASKS || pthread_mutex_trylock(&pool_busy) != 0) {
    for (int i = 0; i < count; i++) fn(arg, i);
    return;
  }
  if (ensure_workers(threads) <= 1) {
    pthread_mutex_unlock(&pool_busy);
    for (int i = 0; i < count; i++) fn(arg, i);
    return;
  }
  job_fn = fn;
  job_arg = arg;
  const unsigned gen = atomic_load(&generation) + 1;
  atomic_store(&done, 0);
  atomic_store_explicit(&ticket, (unsigned long long)gen << 32 | (unsigned long long)count << 16, memory_order_release);
  pthread_mutex_lock(&wake_lock);
  atomic_store_explicit(&generation, gen, memory_order_release);
  pthread_cond_broadcast(&wake_cond);
  pthread_mutex_unlock(&wake_lock);
  run_indices(gen);
  /* a worker still on its index: spin a little, then give the core away (on a busy machine it may be waiting) */
  for (int spins = 0; atomic_load_explicit(&done, memory_order_acquire) < count; spins++) {
    if (spins < 2000) cpu_relax();
    else sched_yield();
  }
  pthread_mutex_unlock(&pool_busy);
}
