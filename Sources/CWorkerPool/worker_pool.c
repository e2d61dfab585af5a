/* A pool of threads that poll between jobs, for many short parallel jobs.
 *
 * A forward pass of Gemma 3 270M makes hundreds of parallel jobs of 10–300 µs each (the
 * products of a decoding step, the norms and activations of a prefill). Handing each to a
 * sleeping thread (libdispatch, or a condition variable) costs a wake-up of about 40 µs on
 * these machines, as much as the job. Here the workers poll a job counter for a short while
 * after each job (pausing, and yielding the core to anything else runnable) before they
 * sleep on a condition variable.
 *
 * A claim word holds the job's generation (high bits) and its next unclaimed chunk (low
 * bits); a claim is a compare-and-swap that also checks the generation, so a worker that
 * wakes late can never take a chunk of a later job with an earlier job's view. The caller
 * waits for chunks to finish, never for workers to arrive.
 */
#include "worker_pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { MAX_THREADS = 64, CHUNK_BITS = 24 };
static const uint64_t CHUNK_MASK = ((uint64_t)1 << CHUNK_BITS) - 1;
/* How long a worker keeps polling after its last job before it sleeps: long enough to span
   the serial gaps of a forward pass, short enough to give the core back soon to other
   threads (OpenBLAS's) when the next job is far away. */
static const int64_t SPIN_NANOSECONDS = 500000;

typedef struct {
    worker_pool_task task;
    void *context;
    int64_t chunks;
} pool_job;

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_up = PTHREAD_COND_INITIALIZER;
static int workers;                  /* started so far; guarded by submit_lock */
static pool_job job;                 /* written only while no chunk is claimed or running */
static _Atomic uint64_t claim;       /* generation << CHUNK_BITS | next chunk */
static _Atomic int64_t chunks_done;
static _Atomic int sleepers;

static int64_t monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Claims and runs chunks of generation `gen` until none are left. */
static void run_chunks(uint64_t gen) {
    for (;;) {
        uint64_t c = atomic_load_explicit(&claim, memory_order_acquire);
        if ((c >> CHUNK_BITS) != gen) return;
        int64_t chunk = (int64_t)(c & CHUNK_MASK);
        /* The job's fields are those of `gen` while one of its chunks is unclaimed. */
        if (chunk >= job.chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        job.task(job.context, chunk);
        atomic_fetch_add_explicit(&chunks_done, 1, memory_order_release);
    }
}

/* Waits until the generation moves past `seen`; returns the new one. */
static uint64_t wait_for_job(uint64_t seen) {
    int64_t deadline = monotonic_ns() + SPIN_NANOSECONDS;
    for (unsigned spins = 1;; spins++) {
        uint64_t g = atomic_load_explicit(&claim, memory_order_acquire) >> CHUNK_BITS;
        if (g != seen) return g;
        CPU_RELAX();
        if (spins % 256 == 0) {
            sched_yield();                   /* anything else runnable on this core goes first */
            if (monotonic_ns() > deadline) break;
        }
    }
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&sleepers, 1);          /* seq_cst: pairs with the submitter's load */
    uint64_t g;
    while ((g = atomic_load(&claim) >> CHUNK_BITS) == seen) pthread_cond_wait(&wake_up, &sleep_lock);
    atomic_fetch_sub(&sleepers, 1);
    pthread_mutex_unlock(&sleep_lock);
    return g;
}

static void *worker_main(void *argument) {
    (void)argument;
    uint64_t seen = atomic_load(&claim) >> CHUNK_BITS;
    for (;;) {
        seen = wait_for_job(seen);
        run_chunks(seen);
    }
    return NULL;
}

/* Starts workers until there are `wanted`; returns how many there are. Holds submit_lock. */
static int ensure_workers(int wanted) {
    while (workers < wanted) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int status = pthread_create(&thread, &attributes, worker_main, NULL);
        pthread_attr_destroy(&attributes);
        if (status != 0) break;
        workers++;
    }
    return workers;
}

static void run_serially(int64_t chunks, worker_pool_task task, void *context) {
    for (int64_t c = 0; c < chunks; c++) task(context, c);
}

int worker_pool_run(int64_t chunks, int threads, worker_pool_task task, void *context) {
    if (chunks <= 0) return 0;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads <= 1 || chunks == 1 || chunks > (int64_t)CHUNK_MASK || pthread_mutex_trylock(&submit_lock) != 0) {
        run_serially(chunks, task, context);
        return 0;
    }
    if (ensure_workers(threads - 1) == 0) {
        pthread_mutex_unlock(&submit_lock);
        run_serially(chunks, task, context);
        return 0;
    }
    job.task = task; job.context = context; job.chunks = chunks;
    atomic_store(&chunks_done, 0);
    uint64_t gen = (atomic_load(&claim) >> CHUNK_BITS) + 1;
    atomic_store(&claim, gen << CHUNK_BITS);  /* seq_cst: publishes the job */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake_up);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_chunks(gen);
    while (atomic_load_explicit(&chunks_done, memory_order_acquire) < chunks) CPU_RELAX();
    pthread_mutex_unlock(&submit_lock);
    return 1;
}
