/* NF4 (QLoRA's frozen base): quantizing a weight, and y = W x for a weight in NF4 blocks (QLoRA's frozen base), read straight from its 4-bit codes:
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

/* ---- Quantizing to NF4: absmax per block, then the number of code midpoints below x/absmax. ---- */

static void nf4_quantize_portable(const float *w, int64_t n, int64_t bs, const float *thresholds, int64_t b0, int64_t b1,
                                  float *absmax, uint8_t *codes) {
    for (int64_t b = b0; b < b1; b++) {
        const int64_t start = b * bs, end = start + bs < n ? start + bs : n;
        float m = 0;
        for (int64_t i = start; i < end; i++) { float a = w[i] < 0 ? -w[i] : w[i]; m = a > m ? a : m; }
        absmax[b] = m;
        const float inv = m > 0 ? 1 / m : 0;
        for (int64_t i = start; i < end; i += 2) {
            uint8_t hi = 0, lo = 0;
            const float x = w[i] * inv;
            for (int t = 0; t < 15; t++) hi += x > thresholds[t];
            if (i + 1 < end) { const float y = w[i + 1] * inv; for (int t = 0; t < 15; t++) lo += y > thresholds[t]; }
            codes[i >> 1] = (uint8_t)((hi << 4) | lo);
        }
    }
}

#if defined(__x86_64__)
/* Whole blocks of a multiple of 16 values: 16 scaled values compared with the 15 midpoints, the
 * true comparisons counted per lane; pairs of counts packed high nibble first. */
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void nf4_quantize_avx512(const float *w, int64_t bs, const float *thresholds, int64_t b0, int64_t b1,
                                float *absmax, uint8_t *codes) {
    __m512 t[15];
    for (int k = 0; k < 15; k++) t[k] = _mm512_set1_ps(thresholds[k]);
    const __m512i one = _mm512_set1_epi32(1);
    for (int64_t b = b0; b < b1; b++) {
        const float *x = w + b * bs;
        __m512 mv = _mm512_setzero_ps();
        for (int64_t i = 0; i < bs; i += 16) mv = _mm512_max_ps(mv, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
        const float m = _mm512_reduce_max_ps(mv);
        absmax[b] = m;
        const __m512 inv = _mm512_set1_ps(m > 0 ? 1 / m : 0);
        for (int64_t i = 0; i < bs; i += 16) {
            const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), inv);
            __m512i count = _mm512_setzero_si512();
            for (int k = 0; k < 15; k++) count = _mm512_mask_add_epi32(count, _mm512_cmp_ps_mask(v, t[k], _CMP_GT_OQ), count, one);
            uint32_t c[16];  /* lanes (2j, 2j+1) -> byte j, the first in the high nibble */
            _mm512_storeu_si512(c, count);
            uint8_t *dst = codes + (b * bs + i) / 2;
            for (int j = 0; j < 8; j++) dst[j] = (uint8_t)((c[2 * j] << 4) | c[2 * j + 1]);
        }
    }
}
#endif

void nf4_quantize(const float *w, int64_t n, int64_t block_size, const float *thresholds, int64_t block_begin,
                  int64_t block_end, float *absmax, uint8_t *codes) {
#if defined(__x86_64__)
    /* The vector path needs whole blocks of 16-multiples; a ragged last block goes portable. */
    if (block_size % 16 == 0 && cpu_has_avx512f()) {
        int64_t whole = n / block_size < block_end ? n / block_size : block_end;
        if (whole > block_begin) nf4_quantize_avx512(w, block_size, thresholds, block_begin, whole, absmax, codes);
        if (whole < block_end) nf4_quantize_portable(w, n, block_size, thresholds, whole > block_begin ? whole : block_begin,
                                                     block_end, absmax, codes);
        return;
    }
#endif
    nf4_quantize_portable(w, n, block_size, thresholds, block_begin, block_end, absmax, codes);
}

void nf4_quantize_portable_only(const float *w, int64_t n, int64_t block_size, const float *thresholds, int64_t block_begin,
                                int64_t block_end, float *absmax, uint8_t *codes) {
    nf4_quantize_portable(w, n, block_size, thresholds, block_begin, block_end, absmax, codes);
}
