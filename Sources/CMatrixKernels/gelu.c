/* GELU (tanh form), alone or times a gate (y = GELU(g) · u), with AVX-512 when the processor has it.
 *
 * The same formula as NumericsEngine's GELUMath (sigmoid form of tanh: GELU(x) =
 * x · 1 / (1 + e^(−2c(x + a x³))), e^x by Cody–Waite reduction and the Cephes polynomial,
 * inputs clamped to [−87, 88]). Swift's SIMD types compile to 128-bit operations on a
 * baseline x86-64 build; this file gives the engine's GELUs (18 in a Gemma 3 prefill) 16-lane vectors.
 */
#include "matrix_kernels.h"
#include "cpu_features.h"
/* No fused multiply-adds anywhere here: the scalar path must round as the Swift code does. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static const float GELU_C = 0.7978845608028654f; /* √(2/π) */
static const float GELU_A = 0.044715f;

static inline float exp_cephes(float x) {
    float xc = fminf(fmaxf(x, -87.0f), 88.0f);
    const float magic = 12582912.0f;
    float z = xc * 1.44269504f + magic;
    float n = z - magic;
    float r = xc - n * 0.693359375f + n * 2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.00000012e-1f;
    p = p * r * r + r + 1;
    union { float f; uint32_t u; } zb = { z }, scale;
    scale.u = (zb.u - 0x4B400000u + 127u) << 23;
    return p * scale.f;
}

static inline float gelu(float x) { return x * (1 / (1 + exp_cephes(-(2 * GELU_C * (x + GELU_A * x * x * x))))); }

/* y = GELU(g) · u, or GELU(g) when u is NULL. */
static void gated_gelu_scalar(const float *g, const float *u, float *y, int64_t n) {
    if (u) for (int64_t i = 0; i < n; i++) y[i] = gelu(g[i]) * u[i];
    else for (int64_t i = 0; i < n; i++) y[i] = gelu(g[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static inline __m512 exp16(__m512 x) {
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 z = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504f)), magic);
    __m512 n = _mm512_sub_ps(z, magic);
    __m512 r = _mm512_add_ps(_mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f))),
                             _mm512_mul_ps(n, _mm512_set1_ps(2.1219444e-4f)));
    __m512 p = _mm512_set1_ps(1.98756915e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.39819995e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.16657959e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.66666655e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.00000012e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(z), _mm512_set1_epi32(0x4B400000)),
                                                      _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

/* Separate multiplies and adds (no FMA), in the scalar order, so both paths give the same bits. */
__attribute__((target("avx512f")))
static void gated_gelu_avx512(const float *g, const float *u, float *y, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), twoC = _mm512_set1_ps(2 * GELU_C), a = _mm512_set1_ps(GELU_A);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 cube = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(a, x), x), x);
        __m512 t = _mm512_mul_ps(twoC, _mm512_add_ps(x, cube));
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), t));
        __m512 v = _mm512_mul_ps(x, _mm512_div_ps(one, _mm512_add_ps(one, e)));
        _mm512_storeu_ps(y + i, u ? _mm512_mul_ps(v, _mm512_loadu_ps(u + i)) : v);
    }
    gated_gelu_scalar(g + i, u ? u + i : NULL, y + i, n - i);
}
#endif

void gated_gelu(const float *gate, const float *up, float *y, int64_t n) {
#if defined(__x86_64__)
    if (cpu_has_avx512f()) { gated_gelu_avx512(gate, up, y, n); return; }
#endif
    gated_gelu_scalar(gate, up, y, n);
}

void gated_gelu_portable(const float *gate, const float *up, float *y, int64_t n) { gated_gelu_scalar(gate, up, y, n); }
