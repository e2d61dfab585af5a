/* y = W x for a weight in NF4 blocks (QLoRA's frozen base), read straight from its 4-bit codes:
 * what a one-row forward (decoding) needs, instead of dequantizing the whole weight to a
 * Float32 tile first. Codes are bitsandbytes' layout (two per byte, the first value in the high
 * nibble); a block's scale is its absmax, or with double quantization
 * dynamic_map[q] * absmax2[block / 256] + offset. Rows must be whole blocks (columns a multiple
 * of the block size, which is even). */
#include "matrix_kernels.h"
#include "cpu_features.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float block_scale(const nf4_weight_view *w, int64_t b) {
    if (!w->quantized_absmax) return w->absmax[b];
    return w->dynamic_map[w->quantized_absmax[b]] * w->absmax2[b / 256] + w->offset;
}

static void nf4_rows_portable(const nf4_weight_view *w, int64_t r0, int64_t r1, const float *x, float *y) {
    const int64_t bs = w->block_size, per_row = w->columns / bs;
    for (int64_t r = r0; r < r1; r++) {
        float total = 0;
        for (int64_t j = 0; j < per_row; j++) {
            const int64_t b = r * per_row + j;
            const uint8_t *codes = w->codes + b * bs / 2;
            const float *xb = x + j * bs;
            float sum = 0;
            for (int64_t i = 0; i < bs / 2; i++) {
                sum += w->code_values[codes[i] >> 4] * xb[2 * i] + w->code_values[codes[i] & 0x0F] * xb[2 * i + 1];
            }
            total += block_scale(w, b) * sum;
        }
        y[r - r0] = total;
    }
}

#if defined(__x86_64__)
/* Sixteen values at a time: 8 bytes widened to 16-bit lanes hold (high nibble, low nibble) as
 * consecutive bytes, i.e. the codes in order; the 16-entry table is one register. */
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void nf4_rows_avx512(const nf4_weight_view *w, int64_t r0, int64_t r1, const float *x, float *y) {
    const int64_t bs = w->block_size, per_row = w->columns / bs;
    const __m512 table = _mm512_loadu_ps(w->code_values);
    const __m128i low = _mm_set1_epi16(0x0F);
    for (int64_t r = r0; r < r1; r++) {
        __m512 total = _mm512_setzero_ps();
        for (int64_t j = 0; j < per_row; j++) {
            const int64_t b = r * per_row + j;
            const uint8_t *codes = w->codes + b * bs / 2;
            const float *xb = x + j * bs;
            __m512 sum = _mm512_setzero_ps();
            for (int64_t i = 0; i < bs; i += 16) {
                __m128i bytes = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(codes + i / 2)));
                __m128i ordered = _mm_or_si128(_mm_srli_epi16(bytes, 4), _mm_slli_epi16(_mm_and_si128(bytes, low), 8));
                __m512 v = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(ordered), table);
                sum = _mm512_fmadd_ps(v, _mm512_loadu_ps(xb + i), sum);
            }
            total = _mm512_fmadd_ps(_mm512_set1_ps(block_scale(w, b)), sum, total);
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}
#endif

int nf4_matvec(const nf4_weight_view *w, int64_t row_begin, int64_t row_end, const float *x, float *y) {
    if (w->block_size <= 0 || w->block_size % 2 != 0 || w->columns % w->block_size != 0) return -1;
#if defined(__x86_64__)
    if (w->block_size % 16 == 0 && cpu_has_avx512f()) { nf4_rows_avx512(w, row_begin, row_end, x, y); return 0; }
#endif
    nf4_rows_portable(w, row_begin, row_end, x, y);
    return 0;
}

int nf4_matvec_portable(const nf4_weight_view *w, int64_t row_begin, int64_t row_end, const float *x, float *y) {
    if (w->block_size <= 0 || w->block_size % 2 != 0 || w->columns % w->block_size != 0) return -1;
    nf4_rows_portable(w, row_begin, row_end, x, y);
    return 0;
}
