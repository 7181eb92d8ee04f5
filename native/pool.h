/*
 * The native addon's one thread pool, shared by the sgemm (sgemm.c), attention over all heads (attention.c) and the
 * row kernels (ops.c), so a job's threads never compete with a second set of spinning workers.
 *
 * pool_run(threads, count, fn, arg) calls fn(arg, i) once for every i in 0..count-1 on up to `threads` threads (the
 * caller's included) and returns when every call is done. The calls must be independent of each other: which thread
 * runs which index, and in what order, varies. Workers start on first use and are kept; after a job they spin
 * briefly (the next kernel of a training step usually follows within microseconds), then sleep. The pool serves one
 * caller at a time: a call made while it is busy (another thread, or a task calling pool_run itself) runs every
 * index on its own thread. count is at most POOL_MAX_TASKS.
 */
#ifndef MODELFAB_POOL_H
#define MODELFAB_POOL_H

#define POOL_MAX_THREADS 64
#define POOL_MAX_TASKS 65535

typedef void (*pool_task)(void *arg, int index);

void pool_run(int threads, int count, pool_task fn, void *arg);

#endif
