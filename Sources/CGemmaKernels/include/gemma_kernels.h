#ifndef GEMMA_KERNELS_H
#define GEMMA_KERNELS_H
#include <stdint.h>

/// y[r] = sum_i W[r, i] * x[i] for rows [row_begin, row_end) of a matrix stored in GGML's
/// Q8_0 format (blocks of 32 values: an f16 scale d and 32 int8 codes; value = d * q).
/// row_length must be a multiple of 32. y points at the output of row_begin.
/// Uses AVX-512 when the processor has it, portable C otherwise.
void gemma_q8_0_matvec(const void *blocks, int64_t row_begin, int64_t row_end, int64_t row_length,
                       const float *x, float *y);

/// y[r] = sum_i W[r, i] * x[i] for rows [row_begin, row_end) of a matrix stored in one of
/// GGML's block formats, named by its GGUF type number: Q4_0 (2), Q5_0 (6), Q8_0 (8),
/// Q4_K (12), Q5_K (13), Q6_K (14). row_length must be a multiple of the type's block
/// size (32, or 256 for the K types). The products use the dequantized values (the same
/// as GGMLDequantizer's) in a different summation order. Returns 0, or -1 for a type this
/// function does not handle (nothing is written then).
int gemma_quantized_matvec(int32_t ggml_type, const void *blocks, int64_t row_begin, int64_t row_end,
                           int64_t row_length, const float *x, float *y);

/// 1 when gemma_quantized_matvec handles rows of `row_length` values of this GGUF type (a type
/// it reads, and whole blocks per row); 0 otherwise.
int gemma_quantized_matvec_handles(int32_t ggml_type, int64_t row_length);

/// The same product by the portable C path only (for tests of the vector kernels).
int gemma_quantized_matvec_portable(int32_t ggml_type, const void *blocks, int64_t row_begin, int64_t row_end,
                                    int64_t row_length, const float *x, float *y);

/// The same product for rows [0, rows), in chunks over `threads` threads: the caller and
/// the workers of worker_pool_run (which poll for work between jobs instead of sleeping, so
/// the ~130 short products of a decoding step do not each pay a thread wake-up). A caller that
/// finds the pool busy computes serially. Each row's result is the same bits as
/// gemma_quantized_matvec's. Returns 0, or -1 for an unhandled type.
int gemma_quantized_matvec_parallel(int32_t ggml_type, const void *blocks, int64_t rows, int64_t row_length,
                                    const float *x, float *y, int threads);

/// 1 when the AVX-512 kernel is used.
int gemma_kernels_have_avx512(void);

#endif
