#ifndef GEMMA_KERNELS_H
#define GEMMA_KERNELS_H
#include <stdint.h>

/// y[r] = sum_i W[r, i] * x[i] for rows [row_begin, row_end) of a matrix stored in GGML's
/// Q8_0 format (blocks of 32 values: an f16 scale d and 32 int8 codes; value = d * q).
/// row_length must be a multiple of 32. y points at the output of row_begin.
/// Uses AVX-512 when the processor has it, portable C otherwise.
void gemma_q8_0_matvec(const void *blocks, int64_t row_begin, int64_t row_end, int64_t row_length,
                       const float *x, float *y);

/// 1 when the AVX-512 kernel is used.
int gemma_kernels_have_avx512(void);

#endif
