/* The AdamW update of one parameter tensor, 16 lanes at a time with AVX-512 when the processor
 * has it. A training step's optimizer touches every weight, gradient and both moments once;
 * the scalar square root and division per element made it slower than the memory traffic.
 * Both paths do the same operations in the same order (no fused multiply-adds; IEEE square
 * root and division are correctly rounded in either), so they give the same bits as each other
 * and as the Swift formula they replace. */
#include "matrix_kernels.h"
#include "cpu_features.h"
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void adamw_scalar(float *w, const float *g, float *m, float *v, int64_t n, adamw_coefficients k) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = k.beta1 * m[i] + (1 - k.beta1) * gi;
        float vi = k.beta2 * v[i] + (1 - k.beta2) * gi * gi;
        m[i] = mi; v[i] = vi;
        w[i] = w[i] * k.decay - k.step_size * mi / (sqrtf(vi) * k.inv_sqrt_bias2 + k.epsilon);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void adamw_avx512(float *w, const float *g, float *m, float *v, int64_t n, adamw_coefficients k) {
    const __m512 b1 = _mm512_set1_ps(k.beta1), c1 = _mm512_set1_ps(1 - k.beta1);
    const __m512 b2 = _mm512_set1_ps(k.beta2), c2 = _mm512_set1_ps(1 - k.beta2);
    const __m512 decay = _mm512_set1_ps(k.decay), step = _mm512_set1_ps(k.step_size);
    const __m512 bc = _mm512_set1_ps(k.inv_sqrt_bias2), eps = _mm512_set1_ps(k.epsilon);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(c1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), bc), eps);
        __m512 wi = _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(w + i), decay), _mm512_div_ps(_mm512_mul_ps(step, mi), denom));
        _mm512_storeu_ps(w + i, wi);
    }
    adamw_scalar(w + i, g + i, m + i, v + i, n - i, k);
}
#endif

void adamw_update(float *w, const float *g, float *m, float *v, int64_t n, adamw_coefficients k) {
#if defined(__x86_64__)
    if (cpu_has_avx512f()) { adamw_avx512(w, g, m, v, n, k); return; }
#endif
    adamw_scalar(w, g, m, v, n, k);
}

void adamw_update_portable(float *w, const float *g, float *m, float *v, int64_t n, adamw_coefficients k) {
    adamw_scalar(w, g, m, v, n, k);
}
