#ifndef MATRIX_KERNELS_H
#define MATRIX_KERNELS_H
#include <stdint.h>

/// 1 when the processor has AVX512-BF16 (with AVX-512 F, BW and VL), which the bf16 products need.
int matrix_kernels_have_bf16(void);

/// C[m x n] = alpha * op(A) * op(B) + beta * C for the columns [n_begin, n_end) of C only
/// (row-major storage; A is m x k, packed by bf16_pack_a; op(B) is B (k x n), or its transpose
/// when trans_b (B stored n x k)). Both operands are rounded to bfloat16 (nearest even) and
/// the products summed in float32. Column ranges of one product may run on different threads,
/// sharing the packed A. Returns 0; -1 (nothing written) without AVX512-BF16; -2 when the
/// packing buffer for B cannot be allocated.
int bf16_gemm_packed_a(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void *packed_a, const float *b,
                       int64_t ldb, float beta, float *c, int64_t ldc, int64_t n_begin, int64_t n_end);

/// Bytes of B (n x k after op) packed by bf16_pack.
int64_t bf16_packed_size(int64_t n, int64_t k);

/// Packs op(B) (k x n; B stored n x k when trans_b) once, rounded to bfloat16, into `packed`
/// (bf16_packed_size bytes, 64-byte aligned), for bf16_gemm_prepacked. Returns 0, or -1 without
/// AVX512-BF16.
int bf16_pack(int trans_b, int64_t n, int64_t k, const float *b, int64_t ldb, void *packed);

/// Bytes of A (m x k after op) packed by bf16_pack_a.
int64_t bf16_packed_a_size(int64_t m, int64_t k);

/// Packs the row panels [panel_begin, panel_end) (12 rows each) of op(A) (m x k; A stored k x m
/// when trans_a) into `packed` (bf16_packed_a_size bytes, 64-byte aligned), so that threads
/// splitting the columns of one product share it. Returns 0, or -1 without AVX512-BF16.
int bf16_pack_a(int trans_a, int64_t m, int64_t k, const float *a, int64_t lda, void *packed,
                int64_t panel_begin, int64_t panel_end);

/// A buffer of at least `bytes` (64-byte aligned) owned by the calling thread and reused by its
/// later calls, for bf16_pack_a; NULL when it cannot be allocated.
void *bf16_shared_a_buffer(int64_t bytes);

/// bf16_gemm_packed_a with B also packed, by bf16_pack (n_begin a multiple of 32).
int bf16_gemm_prepacked(int64_t m, int64_t n, int64_t k, float alpha, const void *packed_a, const void *packed_b,
                        float beta, float *c, int64_t ldc, int64_t n_begin, int64_t n_end);

/// y[i] = GELU(gate[i]) · up[i] (tanh form), or GELU(gate[i]) when `up` is NULL; 16 lanes at a
/// time with AVX-512 when the processor has it; the same operations in the same order as
/// NumericsEngine's GELUMath.value, so the same bits.
void gated_gelu(const float *gate, const float *up, float *y, int64_t n);

/// The same by the portable scalar path only (for tests of the vector path).
void gated_gelu_portable(const float *gate, const float *up, float *y, int64_t n);

/// A weight in NF4 blocks as stored by QLoRA: `codes` two per byte (first value in the high
/// nibble), row-major `rows x columns`; `absmax` per block, or (double quantization, `absmax`
/// NULL) `dynamic_map[quantized_absmax[b]] * absmax2[b / 256] + offset`; `code_values` the 16
/// NF4 values.
typedef struct {
    const uint8_t *codes;
    int64_t columns, block_size;
    const float *absmax;
    const uint8_t *quantized_absmax;
    const float *absmax2;
    const float *dynamic_map;
    float offset;
    const float *code_values;
} nf4_weight_view;

/// y[r - row_begin] = sum_c W[r, c] x[c] for the rows [row_begin, row_end), from the codes
/// (AVX-512 when the processor has it and the block size is a multiple of 16). Returns 0, or
/// -1 when rows are not whole blocks (columns not a multiple of an even block size).
int nf4_matvec(const nf4_weight_view *w, int64_t row_begin, int64_t row_end, const float *x, float *y);

/// The same by the portable scalar path only (for tests of the vector path).
int nf4_matvec_portable(const nf4_weight_view *w, int64_t row_begin, int64_t row_end, const float *x, float *y);

/// NF4-quantizes the blocks [block_begin, block_end) of the n values of w (blocks of
/// block_size, the last possibly shorter): absmax[b] = max |w| of the block, and each value's
/// code = the number of the 15 midpoints between NF4 code values below w / absmax, two codes per
/// byte (first in the high nibble) at codes[i / 2]. block_size is even. AVX-512 for whole
/// blocks of a multiple of 16 values; the same codes either way.
void nf4_quantize(const float *w, int64_t n, int64_t block_size, const float *thresholds, int64_t block_begin,
                  int64_t block_end, float *absmax, uint8_t *codes);

/// The same by the portable scalar path only (for tests of the vector path).
void nf4_quantize_portable(const float *w, int64_t n, int64_t block_size, const float *thresholds, int64_t block_begin,
                           int64_t block_end, float *absmax, uint8_t *codes);

/// The constants of one AdamW step (decay = 1 - lr * weight_decay, or 1 for an undecayed tensor;
/// step_size = lr / (1 - beta1^t); inv_sqrt_bias2 = 1 / sqrt(1 - beta2^t)).
typedef struct {
    float beta1, beta2, decay, step_size, inv_sqrt_bias2, epsilon;
} adamw_coefficients;

/// AdamW on n values: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g g;
/// w = w decay - step_size m / (sqrt(v) inv_sqrt_bias2 + epsilon) — with AVX-512 when the
/// processor has it, the same bits either way.
void adamw_update(float *w, const float *g, float *m, float *v, int64_t n, adamw_coefficients k);

/// The same by the portable scalar path only (for tests of the vector path).
void adamw_update_portable(float *w, const float *g, float *m, float *v, int64_t n, adamw_coefficients k);

#endif
