/* Matrix products with bfloat16 inputs and float32 sums (AVX512-BF16 `vdpbf16ps`).
 *
 * Both operands are packed into panels of bfloat16 pairs along k (rounded to nearest even
 * while packing, so callers keep float32 data): A in panels of MR rows, B in panels of NR
 * columns, KC values of k at a time. A 12 x 32 register tile (24 accumulators) runs over a
 * panel pair; each `vdpbf16ps` does 32 multiply-adds, twice the rate of a float32 FMA. */
#include "matrix_kernels.h"
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <pthread.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MR 12
#define NR 32
#define KC 256   /* k values per block (KC/2 pairs) */

#if defined(__x86_64__)

static inline uint16_t f32_to_bf16(float f) {
    uint32_t b; memcpy(&b, &f, 4);
    if ((b & 0x7F800000u) == 0x7F800000u && (b & 0x7FFFFFu)) return (uint16_t)((b >> 16) | 0x40); /* quiet NaN */
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

static inline uint32_t pair(float lo, float hi) { return (uint32_t)f32_to_bf16(lo) | ((uint32_t)f32_to_bf16(hi) << 16); }

/* Transposes 16 x 16 dwords in place: afterwards r[j] holds element j of every input row. */
__attribute__((target("avx512f")))
static inline void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; i++) {  /* per 128-bit lane: rows 2i, 2i+1 interleaved */
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    __m512i s[4][4];  /* s[g][q], lane L: column 4L + q of rows 4g..4g+3 */
    for (int g = 0; g < 4; g++) {
        s[g][0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        s[g][1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        s[g][2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        s[g][3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int q = 0; q < 4; q++) {  /* a 4 x 4 transpose of 128-bit lanes */
        __m512i v0 = _mm512_shuffle_i32x4(s[0][q], s[1][q], 0x44), v1 = _mm512_shuffle_i32x4(s[0][q], s[1][q], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(s[2][q], s[3][q], 0x44), v3 = _mm512_shuffle_i32x4(s[2][q], s[3][q], 0xEE);
        r[q] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + q] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + q] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + q] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/* Pairs along rows, transposed: dst[t * stride + r] = (x_r[2t], x_r[2t+1]) for the rows
 * r < nrows (x_r = x + r * ldx) and t < (count+1)/2, the odd tail zero padded. Sixteen rows by
 * sixteen pairs at a time: convert, then transpose in registers (no scatter stores). */
__attribute__((target("avx512f,avx512bf16,avx512vl")))
static void pairs_rows(const float *x, int64_t ldx, int nrows, int64_t count, uint32_t *dst, int64_t stride) {
    int64_t full = count >= 32 ? (count - 32) / 32 * 16 + 16 : 0;  /* pairs in whole 16-pair blocks */
    for (int g = 0; g < nrows; g += 16) {
        int nr = nrows - g < 16 ? nrows - g : 16;
        __mmask16 keep = (__mmask16)((1u << nr) - 1);
        for (int64_t t0 = 0; t0 < full; t0 += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++) {
                const float *xr = x + (g + i) * ldx + 2 * t0;
                r[i] = i < nr ? (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + 16), _mm512_loadu_ps(xr)) : _mm512_setzero_si512();
            }
            transpose16(r);
            for (int j = 0; j < 16; j++) _mm512_mask_storeu_epi32(dst + (t0 + j) * stride + g, keep, r[j]);
        }
        for (int i = 0; i < nr; i++) {
            const float *xr = x + (g + i) * ldx;
            for (int64_t t = full; 2 * t < count; t++) dst[t * stride + g + i] = pair(xr[2 * t], 2 * t + 1 < count ? xr[2 * t + 1] : 0.0f);
        }
    }
}

/* Pairs across two rows: dst[c] = (r0[c], r1[c]) for c < w (r1 may be NULL: zeros). */
__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw")))
static void pairs_across(const float *r0, const float *r1, int64_t w, uint32_t *dst) {
    int64_t c = 0;
    static const int16_t order[32] = {0,16,1,17,2,18,3,19,4,20,5,21,6,22,7,23,8,24,9,25,10,26,11,27,12,28,13,29,14,30,15,31};
    const __m512i inter = _mm512_loadu_si512(order);
    for (; c + 16 <= w; c += 16) {
        __m256i lo = (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r0 + c));
        __m256i hi = r1 ? (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r1 + c)) : _mm256_setzero_si256();
        __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        _mm512_storeu_si512(dst + c, _mm512_permutexvar_epi16(inter, both));
    }
    for (; c < w; c++) dst[c] = pair(r0[c], r1 ? r1[c] : 0.0f);
}

/* A's row panels [p0, p1) for k [k0, k0+kc): panel p at dst + (p - p0) * MR * kp_n as dwords
 * [kp][MR], rows past m zero. Transposed A is converted a line of up to 4 panels at a time. */
static void pack_a_panels(const float *a, int64_t lda, int ta, int64_t m, int64_t p0, int64_t p1, int64_t k0, int64_t kc,
                          uint32_t *dst) {
    int64_t kp_n = (kc + 1) / 2, panel = MR * kp_n;
    if (!ta) {
        for (int64_t p = p0; p < p1; p++) {
            int rows = (int)(m - p * MR < MR ? m - p * MR : MR);
            uint32_t *d = dst + (p - p0) * panel;
            if (rows < MR) memset(d, 0, (size_t)panel * 4);
            pairs_rows(a + p * MR * lda + k0, lda, rows, kc, d, MR);
        }
        return;
    }
    enum { LINE = 4 * MR };
    uint32_t line[LINE];
    for (int64_t kp = 0; kp < kp_n; kp++) {
        const float *r0 = a + (k0 + 2 * kp) * lda, *r1 = 2 * kp + 1 < kc ? r0 + lda : NULL;
        for (int64_t p = p0; p < p1; p += 4) {
            int64_t i0 = p * MR, w = m - i0 < LINE ? m - i0 : LINE;
            if (w < LINE) memset(line, 0, sizeof line);
            pairs_across(r0 + i0, r1 ? r1 + i0 : NULL, w, line);
            for (int64_t q = p; q < p + 4 && q < p1; q++) memcpy(dst + (q - p0) * panel + kp * MR, line + (q - p) * MR, MR * 4);
        }
    }
}

/* B panel: cols [j0, j0+NR) x k [k0, k0+kc) -> dwords [kp][NR]; B(k, j) = op(B) */
static void pack_b(const float *b, int64_t ldb, int tb, int64_t n, int64_t j0, int64_t k0, int64_t kc, uint32_t *dst) {
    int64_t kp_n = (kc + 1) / 2;
    int cols = (int)(n - j0 < NR ? n - j0 : NR);
    if (cols < NR) memset(dst, 0, (size_t)kp_n * NR * 4);
    if (tb) {
        pairs_rows(b + j0 * ldb + k0, ldb, cols, kc, dst, NR);
    } else {
        for (int64_t kp = 0; kp < kp_n; kp++) {
            const float *r0 = b + (k0 + 2 * kp) * ldb + j0, *r1 = 2 * kp + 1 < kc ? r0 + ldb : NULL;
            pairs_across(r0, r1, cols, dst + kp * NR);
        }
    }
}

__attribute__((target("avx512f,avx512bf16,avx512vl")))
/* C tile = alpha * (A panel * B panel) + beta * C tile (beta 0: C is not read). */
static void micro(int64_t kp_n, const uint32_t *ap, const uint32_t *bp, float alpha, float beta, float *c, int64_t ldc,
                  int mv, int nv) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (int64_t kp = 0; kp < kp_n; kp++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + kp * NR);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + kp * NR + 16);
        const int32_t *a = (const int32_t *)(ap + kp * MR);
#pragma unroll
        for (int r = 0; r < MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32(a[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
    }
    __m512 al = _mm512_set1_ps(alpha);
    __mmask16 m0 = nv >= 16 ? 0xFFFF : (__mmask16)((1u << nv) - 1);
    __mmask16 m1 = nv >= 32 ? 0xFFFF : (nv <= 16 ? 0 : (__mmask16)((1u << (nv - 16)) - 1));
    if (beta == 0) {
        for (int r = 0; r < mv; r++) {
            float *cr = c + r * ldc;
            _mm512_mask_storeu_ps(cr, m0, _mm512_mul_ps(al, acc[r][0]));
            if (m1) _mm512_mask_storeu_ps(cr + 16, m1, _mm512_mul_ps(al, acc[r][1]));
        }
        return;
    }
    __m512 be = _mm512_set1_ps(beta);
    for (int r = 0; r < mv; r++) {
        float *cr = c + r * ldc;
        __m512 c0 = _mm512_mul_ps(be, _mm512_maskz_loadu_ps(m0, cr));
        _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(al, acc[r][0], c0));
        if (m1) {
            __m512 c1 = _mm512_mul_ps(be, _mm512_maskz_loadu_ps(m1, cr + 16));
            _mm512_mask_storeu_ps(cr + 16, m1, _mm512_fmadd_ps(al, acc[r][1], c1));
        }
    }
}

#endif

/* Packing buffers live per thread and only grow: a fresh allocation of this size per product
 * would be mapped and unmapped by malloc each time, and its pages faulted in again. They are
 * freed when their thread exits (a pthread key's destructor). */
typedef struct { void *buffer[2]; size_t size[2]; } thread_buffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;

static void free_thread_buffers(void *p) {
    thread_buffers *t = p;
    for (int i = 0; i < 2; i++) free(t->buffer[i]);
    free(t);
}
static void make_buffers_key(void) { (void)pthread_key_create(&buffers_key, free_thread_buffers); }

static void *thread_buffer(int which, size_t bytes) {
    pthread_once(&buffers_once, make_buffers_key);
    thread_buffers *t = pthread_getspecific(buffers_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || pthread_setspecific(buffers_key, t) != 0) { free(t); return NULL; }
    }
    if (t->size[which] < bytes) {
        free(t->buffer[which]);
        size_t rounded = (bytes + 63) / 64 * 64;
        t->buffer[which] = aligned_alloc(64, rounded);
        t->size[which] = t->buffer[which] ? rounded : 0;
    }
    return t->buffer[which];
}

#if defined(__x86_64__)
/* Where B's panels come from: packed now from float32 (scratch), or from a bf16_pack buffer. */
typedef struct { const float *b; int64_t ldb; int tb; const void *packed; } b_source;

static int64_t panel_count(int64_t n) { return (n + NR - 1) / NR; }

static uint32_t *packed_panel(const void *packed, int64_t n, int64_t k0, int64_t kc, int64_t p) {
    return (uint32_t *)packed + (k0 / KC) * panel_count(n) * (KC / 2) * NR + p * ((kc + 1) / 2) * NR;
}

/* Panel p of a bf16_pack_a buffer for the k block starting at k0. */
static uint32_t *packed_a_panel(const void *packed, int64_t m, int64_t k0, int64_t kc, int64_t p) {
    return (uint32_t *)packed + (k0 / KC) * ((m + MR - 1) / MR) * MR * (KC / 2) + p * MR * ((kc + 1) / 2);
}

/* The product for the columns [n0, n1): A from its bf16_pack_a packing (shared by the threads
 * that split C's columns), B panel by panel (packed now, or taken from a packing); beta applies
 * with the first k block, later blocks accumulate. */
static int product(const void *packed_a, int64_t m, int64_t n, int64_t k, float alpha, b_source src,
                   float beta, float *c, int64_t ldc, int64_t n0, int64_t n1) {
    if (n1 > n) n1 = n;
    if (m <= 0 || n0 >= n1) return 0;
    if (k <= 0 || alpha == 0) {  /* as BLAS: A and B are not read */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = n0; j < n1; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return 0;
    }
    int64_t mpanels = (m + MR - 1) / MR;
    uint32_t *scratch = src.packed ? NULL : thread_buffer(0, (size_t)NR * (KC / 2 + 1) * 4);
    if (!src.packed && !scratch) return -2;
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        int64_t kc = k - k0 < KC ? k - k0 : KC, kp_n = (kc + 1) / 2;
        const uint32_t *ap = packed_a_panel(packed_a, m, k0, kc, 0);
        for (int64_t j0 = n0; j0 < n1; j0 += NR) {
            int nv = (int)(n1 - j0 < NR ? n1 - j0 : NR);
            const uint32_t *bp;
            if (src.packed) bp = packed_panel(src.packed, n, k0, kc, j0 / NR);
            else { pack_b(src.b, src.ldb, src.tb, n1, j0, k0, kc, scratch); bp = scratch; }
            for (int64_t p = 0; p < mpanels; p++) {
                int mv = (int)(m - p * MR < MR ? m - p * MR : MR);
                micro(kp_n, ap + p * MR * kp_n, bp, alpha, k0 == 0 ? beta : 1.0f, c + p * MR * ldc + j0, ldc, mv, nv);
            }
        }
    }
    return 0;
}
#endif

int bf16_gemm_packed_a(int tb, int64_t m, int64_t n, int64_t k, float alpha, const void *packed_a, const float *b,
                       int64_t ldb, float beta, float *c, int64_t ldc, int64_t n0, int64_t n1) {
    if (!matrix_kernels_have_bf16()) return -1;
#if defined(__x86_64__)
    b_source src = { b, ldb, tb, NULL };
    return product(packed_a, m, n, k, alpha, src, beta, c, ldc, n0, n1);
#else
    (void)tb; (void)m; (void)n; (void)k; (void)alpha; (void)packed_a; (void)b; (void)ldb; (void)beta;
    (void)c; (void)ldc; (void)n0; (void)n1;
    return -1;
#endif
}

/* ---- B packed once (a frozen weight): every panel of every k block, in the kernel's layout. ---- */

int64_t bf16_packed_size(int64_t n, int64_t k) {
    int64_t blocks = (k + KC - 1) / KC;
    return blocks * ((n + NR - 1) / NR) * (KC / 2) * NR * 4;
}

int bf16_pack(int tb, int64_t n, int64_t k, const float *b, int64_t ldb, void *packed) {
    if (!matrix_kernels_have_bf16()) return -1;
#if defined(__x86_64__)
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        int64_t kc = k - k0 < KC ? k - k0 : KC;
        for (int64_t p = 0; p < panel_count(n); p++) pack_b(b, ldb, tb, n, p * NR, k0, kc, packed_panel(packed, n, k0, kc, p));
    }
    return 0;
#else
    (void)tb; (void)n; (void)k; (void)b; (void)ldb; (void)packed;
    return -1;
#endif
}


/* ---- A packed once per product and shared by the threads that split its columns. ---- */

int64_t bf16_packed_a_size(int64_t m, int64_t k) {
    return ((k + KC - 1) / KC) * ((m + MR - 1) / MR) * MR * (KC / 2) * 4;
}

int bf16_pack_a(int ta, int64_t m, int64_t k, const float *a, int64_t lda, void *packed, int64_t panel_begin, int64_t panel_end) {
    if (!matrix_kernels_have_bf16()) return -1;
#if defined(__x86_64__)
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        int64_t kc = k - k0 < KC ? k - k0 : KC;
        if (panel_begin < panel_end)
            pack_a_panels(a, lda, ta, m, panel_begin, panel_end, k0, kc, packed_a_panel(packed, m, k0, kc, panel_begin));
    }
    return 0;
#else
    (void)ta; (void)m; (void)k; (void)a; (void)lda; (void)packed; (void)panel_begin; (void)panel_end;
    return -1;
#endif
}

int bf16_gemm_prepacked(int64_t m, int64_t n, int64_t k, float alpha, const void *packed_a, const void *packed_b,
                        float beta, float *c, int64_t ldc, int64_t n0, int64_t n1) {
    if (!matrix_kernels_have_bf16()) return -1;
#if defined(__x86_64__)
    if (n0 % NR != 0) return -3;
    b_source src = { NULL, 0, 0, packed_b };
    return product(packed_a, m, n, k, alpha, src, beta, c, ldc, n0, n1);
#else
    (void)m; (void)n; (void)k; (void)alpha; (void)packed_a; (void)packed_b; (void)beta; (void)c; (void)ldc; (void)n0; (void)n1;
    return -1;
#endif
}

void *bf16_shared_a_buffer(int64_t bytes) { return bytes > 0 ? thread_buffer(1, (size_t)bytes) : NULL; }
