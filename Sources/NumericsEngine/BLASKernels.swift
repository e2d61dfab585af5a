import CBLAS

/// Which OpenBLAS kernels run.
///
/// OpenBLAS (built with `DYNAMIC_ARCH`, as Debian ships it) picks its kernel family when the
/// library loads, from the processor — or from `OPENBLAS_CORETYPE` when that is set. The
/// benchmarks print the family beside their numbers because it decides the speed of every
/// matrix product: on the 2-core AVX-512 machine of docs/benchmarks.md, whose environment sets
/// `OPENBLAS_CORETYPE=Haswell` (AVX2 kernels), OpenBLAS's own choice without it (`Cooperlake`,
/// AVX-512) makes Gemma 3 float32 prefill 1.4–1.6× and VQ-VAE training 1.4–1.5× faster (the table at the
/// top of docs/benchmarks.md).
public enum BLASKernels {
    /// The kernel family OpenBLAS chose (e.g. `Haswell`, `SkylakeX`, `Cooperlake`).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
