/* Quantizing a weight to NF4 (QLoRA's frozen base): per block of block_size values its absmax,
 * then each value's code = the number of the 15 midpoints between NF4 code values below
 * value / absmax (so the nearest code value, ties to the lower), two codes per byte, the first
 * in the high nibble (bitsandbytes' layout). */
#include "matrix_kernels.h"
#include "cpu_features.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void quantize_blocks_portable(const float *w, int64_t n, int64_t bs, const float *thresholds, int64_t b0, int64_t b1,
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
        if (whole < block_end) quantize_blocks_portable(w, n, block_size, thresholds, whole > block_begin ? whole : block_begin,
                                                     block_end, absmax, codes);
        return;
    }
#endif
    quantize_blocks_portable(w, n, block_size, thresholds, block_begin, block_end, absmax, codes);
}

void nf4_quantize_portable(const float *w, int64_t n, int64_t block_size, const float *thresholds, int64_t block_begin,
                           int64_t block_end, float *absmax, uint8_t *codes) {
    quantize_blocks_portable(w, n, block_size, thresholds, block_begin, block_end, absmax, codes);
}
