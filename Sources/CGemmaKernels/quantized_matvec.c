/* Matrix-vector products straight from GGML's quantized blocks (decoding reads each
 * projection once per token; reading ≈ 5 bits per weight instead of 32 is what makes it fast). */
#include "gemma_kernels.h"
#include "ggml_blocks.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { GGML_Q4_0 = 2, GGML_Q5_0 = 6, GGML_Q8_0 = 8, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14 };

/* ---- Portable path: dequantize one block (as GGMLDequantizer does), then a dot product. ---- */

static int block_values(int32_t type) { return (type == GGML_Q4_K || type == GGML_Q5_K || type == GGML_Q6_K) ? 256 : 32; }
static int block_bytes(int32_t type) {
    switch (type) {
    case GGML_Q4_0: return 18; case GGML_Q5_0: return 22; case GGML_Q8_0: return 34;
    case GGML_Q4_K: return 144; case GGML_Q5_K: return 176; case GGML_Q6_K: return 210;
    default: return 0;
    }
}

static void dequantize_block(int32_t type, const uint8_t *p, float *y) {
    switch (type) {
    case GGML_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)p; float d = ggml_half_to_float(b->d);
        for (int j = 0; j < 32; j++) y[j] = (float)b->qs[j] * d;
        break;
    }
    case GGML_Q4_0: {
        const block_q4_0 *b = (const block_q4_0 *)p; float d = ggml_half_to_float(b->d);
        for (int j = 0; j < 16; j++) { y[j] = (float)((b->qs[j] & 0x0F) - 8) * d; y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d; }
        break;
    }
    case GGML_Q5_0: {
        const block_q5_0 *b = (const block_q5_0 *)p; float d = ggml_half_to_float(b->d);
        uint32_t qh; memcpy(&qh, b->qh, 4);
        for (int j = 0; j < 16; j++) {
            int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(((b->qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (float)(((b->qs[j] >> 4) | h1) - 16) * d;
        }
        break;
    }
    case GGML_Q4_K: case GGML_Q5_K: {
        const int five = type == GGML_Q5_K;
        const block_q4_K *b4 = (const block_q4_K *)p; const block_q5_K *b5 = (const block_q5_K *)p;
        float d = ggml_half_to_float(five ? b5->d : b4->d), dmin = ggml_half_to_float(five ? b5->dmin : b4->dmin);
        const uint8_t *scales = five ? b5->scales : b4->scales, *qs = five ? b5->qs : b4->qs;
        for (int c = 0; c < 4; c++) {
            uint8_t s1, m1, s2, m2;
            ggml_scale_min_k4(2 * c, scales, &s1, &m1); ggml_scale_min_k4(2 * c + 1, scales, &s2, &m2);
            float d1 = d * s1, min1 = dmin * m1, d2 = d * s2, min2 = dmin * m2;
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * c + l] & 0x0F, hi = qs[32 * c + l] >> 4;
                if (five) { lo |= ((b5->qh[l] >> (2 * c)) & 1) << 4; hi |= ((b5->qh[l] >> (2 * c + 1)) & 1) << 4; }
                y[64 * c + l] = d1 * (float)lo - min1;
                y[64 * c + 32 + l] = d2 * (float)hi - min2;
            }
        }
        break;
    }
    case GGML_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)p; float d = ggml_half_to_float(b->d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h; const int8_t *sc = b->scales + 8 * h;
            float *yh = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yh[l] = (d * sc[s]) * (float)q1; yh[l + 32] = (d * sc[s + 2]) * (float)q2;
                yh[l + 64] = (d * sc[s + 4]) * (float)q3; yh[l + 96] = (d * sc[s + 6]) * (float)q4;
            }
        }
        break;
    }
    }
}

static void matvec_portable(int32_t type, const uint8_t *blocks, int64_t r0, int64_t r1, int64_t row_length,
                            const float *x, float *y) {
    const int qk = block_values(type), bytes = block_bytes(type);
    const int64_t nb = row_length / qk;
    float tmp[256];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = blocks + r * nb * bytes;
        float total = 0;
        for (int64_t k = 0; k < nb; k++) {
            dequantize_block(type, row + k * bytes, tmp);
            float s = 0;
            for (int i = 0; i < qk; i++) s += tmp[i] * x[k * qk + i];
            total += s;
        }
        y[r - r0] = total;
    }
}

/* ---- AVX-512 paths for the types Gemma 3's Q4_K_M file uses, and Q4_0 and Q5_K. ---- */
#if defined(__x86_64__)
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

AVX512_TARGET static inline __m512 bytes_to_floats(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }

AVX512_TARGET static void matvec_q4_0(const block_q4_0 *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    const __m128i low = _mm_set1_epi8(0x0F); const __m512 eight = _mm512_set1_ps(8);
    for (int64_t r = r0; r < r1; r++) {
        const block_q4_0 *row = b + r * nb;
        __m512 total = _mm512_setzero_ps();
        for (int64_t k = 0; k < nb; k++) {
            __m128i qs = _mm_loadu_si128((const __m128i *)row[k].qs);
            __m512 f0 = _mm512_sub_ps(bytes_to_floats(_mm_and_si128(qs, low)), eight);
            __m512 f1 = _mm512_sub_ps(bytes_to_floats(_mm_and_si128(_mm_srli_epi16(qs, 4), low)), eight);
            __m512 s = _mm512_mul_ps(f0, _mm512_loadu_ps(x + k * 32));
            s = _mm512_fmadd_ps(f1, _mm512_loadu_ps(x + k * 32 + 16), s);
            total = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(row[k].d)), s, total);
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}

AVX512_TARGET static void matvec_q5_0(const block_q5_0 *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    const __m128i low = _mm_set1_epi8(0x0F), bit4 = _mm_set1_epi8(0x10); const __m512 sixteen = _mm512_set1_ps(16);
    for (int64_t r = r0; r < r1; r++) {
        const block_q5_0 *row = b + r * nb;
        __m512 total = _mm512_setzero_ps();
        for (int64_t k = 0; k < nb; k++) {
            uint32_t qh; memcpy(&qh, row[k].qh, 4);
            __m128i qs = _mm_loadu_si128((const __m128i *)row[k].qs);
            __m128i q0 = _mm_or_si128(_mm_and_si128(qs, low), _mm_maskz_mov_epi8((__mmask16)(qh & 0xFFFF), bit4));
            __m128i q1 = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(qs, 4), low), _mm_maskz_mov_epi8((__mmask16)(qh >> 16), bit4));
            __m512 s = _mm512_mul_ps(_mm512_sub_ps(bytes_to_floats(q0), sixteen), _mm512_loadu_ps(x + k * 32));
            s = _mm512_fmadd_ps(_mm512_sub_ps(bytes_to_floats(q1), sixteen), _mm512_loadu_ps(x + k * 32 + 16), s);
            total = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(row[k].d)), s, total);
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}

/* One Q4_K or Q5_K block of 256 values against x, added to total:
 * Σ (d·sc·q − dmin·m)·x = d·sc·Σ q·x − dmin·m·Σ x per sub-block of 32. Q5_K (qh not NULL) adds
 * a fifth bit per value: bit 2c of qh[l] for the low nibbles of sub-block pair c, bit 2c+1 for
 * the high ones, turned into 16 by a byte mask. */
AVX512_TARGET static inline __m512 k_block_dot(float d, float dmin, const uint8_t *scales, const uint8_t *qs,
                                               const uint8_t *qh, const float *xb, __m512 total) {
    const __m128i low = _mm_set1_epi8(0x0F), bit4 = _mm_set1_epi8(0x10);
    for (int c = 0; c < 4; c++) {
        uint8_t s1, m1, s2, m2;
        ggml_scale_min_k4(2 * c, scales, &s1, &m1); ggml_scale_min_k4(2 * c + 1, scales, &s2, &m2);
        const uint8_t *q = qs + 32 * c; const float *xc = xb + 64 * c;
        const __m128i loBit = _mm_set1_epi8((char)(1 << (2 * c))), hiBit = _mm_set1_epi8((char)(1 << (2 * c + 1)));
        __m512 a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps(), x2 = _mm512_setzero_ps();
        for (int l = 0; l < 32; l += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(q + l));
            __m128i lo = _mm_and_si128(v, low), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low);
            if (qh) {
                __m128i h = _mm_loadu_si128((const __m128i *)(qh + l));
                lo = _mm_or_si128(lo, _mm_maskz_mov_epi8(_mm_test_epi8_mask(h, loBit), bit4));
                hi = _mm_or_si128(hi, _mm_maskz_mov_epi8(_mm_test_epi8_mask(h, hiBit), bit4));
            }
            __m512 xa = _mm512_loadu_ps(xc + l), xh = _mm512_loadu_ps(xc + 32 + l);
            a1 = _mm512_fmadd_ps(bytes_to_floats(lo), xa, a1);
            a2 = _mm512_fmadd_ps(bytes_to_floats(hi), xh, a2);
            x1 = _mm512_add_ps(x1, xa); x2 = _mm512_add_ps(x2, xh);
        }
        total = _mm512_fmadd_ps(_mm512_set1_ps(d * s1), a1, total);
        total = _mm512_fnmadd_ps(_mm512_set1_ps(dmin * m1), x1, total);
        total = _mm512_fmadd_ps(_mm512_set1_ps(d * s2), a2, total);
        total = _mm512_fnmadd_ps(_mm512_set1_ps(dmin * m2), x2, total);
    }
    return total;
}

AVX512_TARGET static void matvec_q4_K(const block_q4_K *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        __m512 total = _mm512_setzero_ps();
        for (int64_t k = 0; k < nb; k++) {
            const block_q4_K *blk = b + r * nb + k;
            total = k_block_dot(_cvtsh_ss(blk->d), _cvtsh_ss(blk->dmin), blk->scales, blk->qs, NULL, x + k * 256, total);
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}

AVX512_TARGET static void matvec_q5_K(const block_q5_K *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        __m512 total = _mm512_setzero_ps();
        for (int64_t k = 0; k < nb; k++) {
            const block_q5_K *blk = b + r * nb + k;
            total = k_block_dot(_cvtsh_ss(blk->d), _cvtsh_ss(blk->dmin), blk->scales, blk->qs, blk->qh, x + k * 256, total);
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}

AVX512_TARGET static void matvec_q6_K(const block_q6_K *b, int64_t r0, int64_t r1, int64_t nb, const float *x, float *y) {
    const __m128i low = _mm_set1_epi8(0x0F), two = _mm_set1_epi8(0x03); const __m512 bias = _mm512_set1_ps(32);
    for (int64_t r = r0; r < r1; r++) {
        const block_q6_K *row = b + r * nb;
        __m512 total = _mm512_setzero_ps();
        for (int64_t k = 0; k < nb; k++) {
            const block_q6_K *blk = row + k;
            const float d = _cvtsh_ss(blk->d);
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = blk->ql + 64 * h, *qh = blk->qh + 32 * h; const int8_t *sc = blk->scales + 8 * h;
                const float *xh = x + k * 256 + 128 * h;
                for (int l = 0; l < 32; l += 16) {
                    const int s = l / 16;
                    __m128i a = _mm_loadu_si128((const __m128i *)(ql + l)), c = _mm_loadu_si128((const __m128i *)(ql + l + 32));
                    __m128i hb = _mm_loadu_si128((const __m128i *)(qh + l));
                    __m128i q1 = _mm_or_si128(_mm_and_si128(a, low), _mm_slli_epi16(_mm_and_si128(hb, two), 4));
                    __m128i q2 = _mm_or_si128(_mm_and_si128(c, low), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 2), two), 4));
                    __m128i q3 = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), low), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 4), two), 4));
                    __m128i q4 = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), low), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 6), two), 4));
                    __m512 p1 = _mm512_mul_ps(_mm512_sub_ps(bytes_to_floats(q1), bias), _mm512_loadu_ps(xh + l));
                    __m512 p2 = _mm512_mul_ps(_mm512_sub_ps(bytes_to_floats(q2), bias), _mm512_loadu_ps(xh + l + 32));
                    __m512 p3 = _mm512_mul_ps(_mm512_sub_ps(bytes_to_floats(q3), bias), _mm512_loadu_ps(xh + l + 64));
                    __m512 p4 = _mm512_mul_ps(_mm512_sub_ps(bytes_to_floats(q4), bias), _mm512_loadu_ps(xh + l + 96));
                    total = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s]), p1, total);
                    total = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s + 2]), p2, total);
                    total = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s + 4]), p3, total);
                    total = _mm512_fmadd_ps(_mm512_set1_ps(d * sc[s + 6]), p4, total);
                }
            }
        }
        y[r - r0] = _mm512_reduce_add_ps(total);
    }
}
#endif

int gemma_quantized_matvec_handles(int32_t type, int64_t row_length) {
    return block_bytes(type) != 0 && row_length % block_values(type) == 0;
}

int gemma_quantized_matvec(int32_t type, const void *blocks, int64_t row_begin, int64_t row_end,
                           int64_t row_length, const float *x, float *y) {
    if (!gemma_quantized_matvec_handles(type, row_length)) return -1;
    if (type == GGML_Q8_0) { gemma_q8_0_matvec(blocks, row_begin, row_end, row_length, x, y); return 0; }
    const int64_t nb = row_length / block_values(type);
#if defined(__x86_64__)
    if (gemma_cpu_has_avx512()) {
        switch (type) {
        case GGML_Q4_0: matvec_q4_0((const block_q4_0 *)blocks, row_begin, row_end, nb, x, y); return 0;
        case GGML_Q5_0: matvec_q5_0((const block_q5_0 *)blocks, row_begin, row_end, nb, x, y); return 0;
        case GGML_Q4_K: matvec_q4_K((const block_q4_K *)blocks, row_begin, row_end, nb, x, y); return 0;
        case GGML_Q5_K: matvec_q5_K((const block_q5_K *)blocks, row_begin, row_end, nb, x, y); return 0;
        case GGML_Q6_K: matvec_q6_K((const block_q6_K *)blocks, row_begin, row_end, nb, x, y); return 0;
        default: break;
        }
    }
#endif
    matvec_portable(type, (const uint8_t *)blocks, row_begin, row_end, row_length, x, y);
    return 0;
}

/* The portable path alone, so tests can check the AVX-512 kernels against it. */
int gemma_quantized_matvec_portable(int32_t type, const void *blocks, int64_t row_begin, int64_t row_end,
                                    int64_t row_length, const float *x, float *y) {
    if (!gemma_quantized_matvec_handles(type, row_length)) return -1;
    matvec_portable(type, (const uint8_t *)blocks, row_begin, row_end, row_length, x, y);
    return 0;
}
