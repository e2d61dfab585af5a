/* Processor features of the kernels in this target, detected once (internal header). */
#ifndef CPU_FEATURES_H
#define CPU_FEATURES_H

/* 1 when the processor has AVX-512 F. */
int cpu_has_avx512f(void);

#endif
