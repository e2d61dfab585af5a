/* A pool of threads that poll between jobs, for many short parallel jobs.
 *
 * A forward pass of Gemma 3 270M makes hundreds of parallel jobs of 10–300 µs each (the
 * products of a decoding step, the norms and activations of a prefill). Handing each to a
 * sleeping thread (libdispatch, or a condition variable) costs a wake-up that is as long as
 * many of these jobs. Here the workers poll a job counter for a short while
 * after each job (pausing, and yielding the core to anything else runnable) before they
 * sleep on a condition variable.
 *
 * One atomic claim word holds the job's generation, its chunk count and its next unclaimed
 * chunk; a claim is a compare-and-swap of that word, so a worker that wakes late can never
 * take a chunk of a later job with an earlier job's view, and the job's other fields are
 * read only after a successful claim (when the submitter is waiting for that chunk and
 * cannot change them). The caller waits for chunks to finish, never for workers to arrive.
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

enum { MAX_THREADS = 64 };
/* The claim word: generation (32 bits) | chunk count (16) | next unclaimed chunk (16). */
enum { COUNT_SHIFT = 16, GENERATION_SHIFT = 32 };
static const int64_t MAX_CHUNKS_PER_JOB = 0xFFFF;
static inline uint64_t generation_of(uint64_t word) { return word >> GENERATION_SHIFT; }
static inline int64_t count_of(uint64_t word) { return (int64_t)((word >> COUNT_SHIFT) & 0xFFFF); }
static inline int64_t next_of(uint64_t word) { return (int64_t)(word & 0xFFFF); }
/* How long a worker keeps polling after its last job before it sleeps: long enough to span
   the serial gaps of a forward pass, short enough to give the core back soon to other
   threads (OpenBLAS's) when the next job is far away. */
static const int64_t SPIN_NANOSECONDS = 500000;

typedef struct {
    worker_pool_task task;
    void *context;
    int64_t first;                   /* chunk index of the job's chunk 0 (long loops run as several jobs) */
} pool_job;

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_up = PTHREAD_COND_INITIALIZER;
static int workers;                  /* started so far; guarded by submit_lock */
static pool_job job;                 /* written only while no chunk is claimed or running */
static _Atomic uint64_t claim;
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
        if (generation_of(c) != gen || next_of(c) >= count_of(c)) return;
        if (!atomic_compare_exchange_weak_explicit(&claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        job.task(job.context, job.first + next_of(c));
        atomic_fetch_add_explicit(&chunks_done, 1, memory_order_release);
    }
}

/* Waits until the generation moves past `seen`; returns the new one. */
static uint64_t wait_for_job(uint64_t seen) {
    int64_t deadline = monotonic_ns() + SPIN_NANOSECONDS;
    for (unsigned spins = 1;; spins++) {
        uint64_t g = generation_of(atomic_load_explicit(&claim, memory_order_acquire));
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
    while ((g = generation_of(atomic_load(&claim))) == seen) pthread_cond_wait(&wake_up, &sleep_lock);
    atomic_fetch_sub(&sleepers, 1);
    pthread_mutex_unlock(&sleep_lock);
    return g;
}

static void *worker_main(void *argument) {
    (void)argument;
    uint64_t seen = generation_of(atomic_load(&claim));
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

/* One job of at most MAX_CHUNKS_PER_JOB chunks. Holds submit_lock. */
static void run_job(int64_t first, int64_t chunks, worker_pool_task task, void *context) {
    job.task = task; job.context = context; job.first = first;
    atomic_store(&chunks_done, 0);
    uint64_t gen = (generation_of(atomic_load(&claim)) + 1) & 0xFFFFFFFFu;
    atomic_store(&claim, gen << GENERATION_SHIFT | (uint64_t)chunks << COUNT_SHIFT);  /* seq_cst: publishes the job */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake_up);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_chunks(gen);
    while (atomic_load_explicit(&chunks_done, memory_order_acquire) < chunks) CPU_RELAX();
}

int worker_pool_run(int64_t chunks, int threads, worker_pool_task task, void *context) {
    if (chunks <= 0) return 0;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads <= 1 || chunks == 1 || pthread_mutex_trylock(&submit_lock) != 0) {
        run_serially(chunks, task, context);
        return 0;
    }
    if (ensure_workers(threads - 1) == 0) {
        pthread_mutex_unlock(&submit_lock);
        run_serially(chunks, task, context);
        return 0;
    }
    for (int64_t first = 0; first < chunks; first += MAX_CHUNKS_PER_JOB) {
        int64_t count = chunks - first < MAX_CHUNKS_PER_JOB ? chunks - first : MAX_CHUNKS_PER_JOB;
        run_job(first, count, task, context);
    }
    pthread_mutex_unlock(&submit_lock);
    return 1;
}
