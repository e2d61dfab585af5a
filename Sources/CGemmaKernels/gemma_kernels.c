#include "gemma_kernels.h"
#include "ggml_blocks.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void matvec_generic(const block_q8_0 *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const block_q8_0 *row = b + r * nb;
        float total = 0;
        for (int64_t k = 0; k < nb; k++) {
            float s = 0;
            for (int i = 0; i < 32; i++) s += (float)row[k].qs[i] * x[k * 32 + i];
            total += ggml_half_to_float(row[k].d) * s;
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
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

/* Detected once; threads racing on the first call all store the same value. */
int gemma_cpu_has_avx512(void) {
    static int avx512 = -1;
    int have = __atomic_load_n(&avx512, __ATOMIC_RELAXED);
    if (have < 0) { have = gemma_kernels_have_avx512(); __atomic_store_n(&avx512, have, __ATOMIC_RELAXED); }
    return have;
}

void gemma_q8_0_matvec(const void *blocks, int64_t row_begin, int64_t row_end, int64_t row_length,
                       const float *x, float *y) {
    int have = gemma_cpu_has_avx512();
    const block_q8_0 *b = (const block_q8_0 *)blocks;
    int64_t nb = row_length / 32;
#if defined(__x86_64__)
    if (have) { matvec_avx512(b, row_begin, row_end, nb, x, y); return; }
#endif
    matvec_generic(b, row_begin, row_end, nb, x, y);
}
