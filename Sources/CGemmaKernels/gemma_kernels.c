#include "gemma_kernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) { bits = sign; }
        else {  /* subnormal: normalise */
            int e = -1;
            do { mant <<= 1; e++; } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f; memcpy(&f, &bits, 4); return f;
}

static void matvec_generic(const block_q8_0 *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const block_q8_0 *row = b + r * nb;
        float total = 0;
        for (int64_t k = 0; k < nb; k++) {
            float s = 0;
            for (int i = 0; i < 32; i++) s += (float)row[k].qs[i] * x[k * 32 + i];
            total += half_to_float(row[k].d) * s;
        }
        y[r - r0] = total;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,fma,f16c")))
static void matvec_avx512(const block_q8_0 *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const block_q8_0 *row = b + r * nb;
        __m512 total = _mm512_setzero_ps();
        for (int64_t k = 0; k < nb; k++) {
            __m128i q0 = _mm_loadu_si128((const __m128i *)row[k].qs);
            __m128i q1 = _mm_loadu_si128((const __m128i *)(row[k].qs + 16));
            __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0));
            __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1));
            __m512 s = _mm512_mul_ps(f0, _mm512_loadu_ps(x + k * 32));
            s = _mm512_fmadd_ps(f1, _mm512_loadu_ps(x + k * 32 + 16), s);
            total = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(row[k].d)), s, total);  /* F16C: every AVX-512 CPU has it */
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}
#endif

int gemma_kernels_have_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

void gemma_q8_0_matvec(const void *blocks, int64_t row_begin, int64_t row_end, int64_t row_length,
                       const float *x, float *y) {
    /* Detected once; threads racing on the first call all store the same value. */
    static int avx512 = -1;
    int have = __atomic_load_n(&avx512, __ATOMIC_RELAXED);
    if (have < 0) { have = gemma_kernels_have_avx512(); __atomic_store_n(&avx512, have, __ATOMIC_RELAXED); }
    const block_q8_0 *b = (const block_q8_0 *)blocks;
    int64_t nb = row_length / 32;
#if defined(__x86_64__)
    if (have) { matvec_avx512(b, row_begin, row_end, nb, x, y); return; }
#endif
    matvec_generic(b, row_begin, row_end, nb, x, y);
}
