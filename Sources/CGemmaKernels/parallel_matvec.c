/* Row-parallel quantized products for decoding, on a small pool of threads that spin
 * between jobs.
 *
 * A decoding step of Gemma 3 270M makes ~130 products of 30–300 µs each. Handing each
 * one to a sleeping thread (Dispatch, or a condition variable) costs a wake-up of tens
 * of microseconds and more than halves the second core's use. Here the workers poll a
 * job counter for a short while after each job (pausing, and yielding the core to
 * anything else runnable), and only then sleep on a condition variable.
 *
 * A job is cut into a few chunks more than there are threads, and every thread, the caller
 * included, claims chunks from one counter until none are left. So a worker that is late
 * (descheduled, or sharing its core with another library's spinning threads) only leaves
 * its chunks to the others instead of holding up the product; the caller waits for
 * chunks, never for workers.
 */
#include "gemma_kernels.h"
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

enum { MAX_THREADS = 64, CHUNKS_PER_THREAD = 4 };
/* How long a worker keeps polling after its last job before it sleeps. Long enough to
   span the gaps of a decoding step (norms, attention, sampling), short enough that an
   idle pool gives the cores back almost at once. */
static const int64_t SPIN_NANOSECONDS = 2000000;

/* The claim word: the job's generation in the high bits, the next unclaimed chunk in
   the low CHUNK_BITS. A claim is a compare-and-swap that also checks the generation, so a
   worker that wakes late can never take a chunk of a later job with an earlier job's
   view. */
enum { CHUNK_BITS = 20 };
static const uint64_t CHUNK_MASK = (1u << CHUNK_BITS) - 1;

typedef struct {
    int32_t type;
    const void *blocks;
    int64_t rows, row_length;
    const float *x;
    float *y;
    int64_t chunks;
} matvec_job;

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_up = PTHREAD_COND_INITIALIZER;
static int workers;                      /* started so far; guarded by submit_lock */
static matvec_job job;                   /* written only while no chunk is claimed or running */
static _Atomic uint64_t claim;           /* generation << CHUNK_BITS | next chunk */
static _Atomic int64_t chunks_done;
static _Atomic int failed;
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
        int64_t r0 = job.rows * chunk / job.chunks, r1 = job.rows * (chunk + 1) / job.chunks;
        if (r0 < r1 && gemma_quantized_matvec(job.type, job.blocks, r0, r1, job.row_length, job.x, job.y + r0) != 0)
            atomic_store(&failed, 1);
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
            sched_yield();                       /* let anything else runnable on this core go first */
            if (monotonic_ns() > deadline) break;
        }
    }
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&sleepers, 1);              /* seq_cst: pairs with the submitter's load */
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

int gemma_quantized_matvec_parallel(int32_t ggml_type, const void *blocks, int64_t rows, int64_t row_length,
                                    const float *x, float *y, int threads) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    /* Serial when asked, or when another caller has the pool (it runs one job at a time). */
    if (threads <= 1 || rows < 2 || pthread_mutex_trylock(&submit_lock) != 0)
        return gemma_quantized_matvec(ggml_type, blocks, 0, rows, row_length, x, y);
    int64_t chunks = (int64_t)(ensure_workers(threads - 1) + 1) * CHUNKS_PER_THREAD;
    if (chunks > rows) chunks = rows;
    job.type = ggml_type; job.blocks = blocks; job.rows = rows; job.row_length = row_length;
    job.x = x; job.y = y; job.chunks = chunks;
    atomic_store(&failed, 0);
    atomic_store(&chunks_done, 0);
    uint64_t gen = (atomic_load(&claim) >> CHUNK_BITS) + 1;
    atomic_store(&claim, gen << CHUNK_BITS);      /* seq_cst: publishes the job */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake_up);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_chunks(gen);
    while (atomic_load_explicit(&chunks_done, memory_order_acquire) < chunks) CPU_RELAX();
    int status = atomic_load(&failed) ? -1 : 0;
    pthread_mutex_unlock(&submit_lock);
    return status;
}
