/* Row-parallel quantized products for decoding, on the polling worker pool: a decoding
 * step makes ~130 products of 30–300 µs each, too short to hand to sleeping threads. */
#include "gemma_kernels.h"
#include "worker_pool.h"
#include <stdatomic.h>

enum { CHUNKS_PER_THREAD = 4 };

typedef struct {
    int32_t type;
    const void *blocks;
    int64_t rows, row_length, chunks;
    const float *x;
    float *y;
    _Atomic int failed;
} matvec_job;

static void matvec_chunk(void *context, int64_t chunk) {
    matvec_job *job = context;
    int64_t r0 = job->rows * chunk / job->chunks, r1 = job->rows * (chunk + 1) / job->chunks;
    if (r0 < r1 && gemma_quantized_matvec(job->type, job->blocks, r0, r1, job->row_length, job->x, job->y + r0) != 0)
        atomic_store(&job->failed, 1);
}

int gemma_quantized_matvec_parallel(int32_t ggml_type, const void *blocks, int64_t rows, int64_t row_length,
                                    const float *x, float *y, int threads) {
    if (threads <= 1 || rows < 2) return gemma_quantized_matvec(ggml_type, blocks, 0, rows, row_length, x, y);
    /* A few chunks per thread, so that a late thread's share goes to the others. */
    int64_t chunks = (int64_t)threads * CHUNKS_PER_THREAD;
    if (chunks > rows) chunks = rows;
    matvec_job job = { ggml_type, blocks, rows, row_length, chunks, x, y, 0 };
    worker_pool_run(chunks, threads, matvec_chunk, &job);
    return atomic_load(&job.failed) ? -1 : 0;
}
