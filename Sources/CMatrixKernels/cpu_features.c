/* One place that asks the processor what it has; each answer is cached after the first call. */
#include "cpu_features.h"
#include "matrix_kernels.h"

#if defined(__x86_64__)
/* -1 until detected; then 0 or 1. Races only repeat the same detection. */
static int detect(int *cache, int (*probe)(void)) {
    int h = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (h < 0) {
        __builtin_cpu_init();
        h = probe();
        __atomic_store_n(cache, h, __ATOMIC_RELAXED);
    }
    return h;
}
static int probe_avx512f(void) { return __builtin_cpu_supports("avx512f"); }
static int probe_bf16(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bf16");
}
#endif

int cpu_has_avx512f(void) {
#if defined(__x86_64__)
    static int have = -1;
    return detect(&have, probe_avx512f);
#else
    return 0;
#endif
}

int matrix_kernels_have_bf16(void) {
#if defined(__x86_64__)
    static int have = -1;
    return detect(&have, probe_bf16);
#else
    return 0;
#endif
}
