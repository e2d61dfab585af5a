/* GGML block layouts and the f16 conversion shared by the kernels (private header). */
#ifndef GGML_BLOCKS_H
#define GGML_BLOCKS_H
#include <stdint.h>
#include <string.h>

typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;                      /* 34 bytes */
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;                     /* 18 bytes */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;      /* 22 bytes */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;              /* 144 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K; /* 176 */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;     /* 210 */

_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block size");
_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block size");
_Static_assert(sizeof(block_q5_0) == 22, "Q5_0 block size");
_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block size");
_Static_assert(sizeof(block_q5_K) == 176, "Q5_K block size");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block size");

static inline float ggml_half_to_float(uint16_t h) {
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

/* The 6-bit scale and min of sub-block j (0..<8) of a Q4_K / Q5_K block. */
static inline void ggml_scale_min_k4(int j, const uint8_t *s, uint8_t *scale, uint8_t *min) {
    if (j < 4) { *scale = s[j] & 63; *min = s[j + 4] & 63; }
    else {
        *scale = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *min = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

int gemma_cpu_has_avx512(void);

#endif
