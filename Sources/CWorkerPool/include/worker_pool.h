#ifndef WORKER_POOL_H
#define WORKER_POOL_H
#include <stdint.h>

/// One unit of a job: `chunk` is in [0, chunks).
typedef void (*worker_pool_task)(void *context, int64_t chunk);

/// Runs task(context, c) once for every c in [0, chunks), on the calling thread and up to
/// `threads − 1` pool workers, and returns when all have finished.
///
/// Every thread, the caller included, claims chunks from one counter until none are left,
/// so a worker that is late (descheduled, or sharing its core with another library's
/// threads) leaves its chunks to the others instead of holding up the job. Workers poll for
/// the next job for a short while after each one (so the many short jobs of a model's
/// forward pass do not each pay a thread wake-up) and then sleep.
///
/// One job runs at a time: a call made while the pool is busy (from inside a task, or from
/// another thread) runs all its chunks on its own calling thread. Returns 1 when the job ran
/// on the pool, 0 when it ran serially.
int worker_pool_run(int64_t chunks, int threads, worker_pool_task task, void *context);

#endif
