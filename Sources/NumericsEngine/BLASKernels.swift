import CBLAS
import Foundation

/// Which OpenBLAS kernels run, and the correction for processors OpenBLAS misreads.
///
/// OpenBLAS (built with `DYNAMIC_ARCH`, as Debian ships it) picks its kernels when the
/// library loads, from the processor it recognises. Releases before 0.3.22 do not know
/// AMD Zen 4 and fall back to the Haswell (AVX2) kernels, although the processor runs the
/// SkylakeX (AVX-512) kernels: on the 2-core Zen 4 machine of docs/benchmarks.md these make
/// Gemma 3 prefill 1.9× and VQ-VAE training 1.6× faster. The choice can only be changed
/// through `OPENBLAS_CORETYPE` before the library loads, so `biomechgpt` re-executes itself
/// once with it set (``useAVX512KernelsIfMisdetected()``). Setting `OPENBLAS_CORETYPE`
/// yourself (e.g. to `Haswell`) keeps your choice.
public enum BLASKernels {
    /// The kernel family OpenBLAS chose (e.g. `Haswell`, `SkylakeX`).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The AVX-512 subsets the SkylakeX kernels use.
    static let skylakeXFlags: Set<String> = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
    /// Kernel families without AVX-512 that OpenBLAS falls back to for processors it does not know.
    static let fallbackCores: Set<String> = ["haswell", "zen", "sandybridge", "prescott", "nehalem"]

    /// The `OPENBLAS_CORETYPE` to use instead of what OpenBLAS chose, or nil: only when the
    /// variable is unset, OpenBLAS chose a fallback family, and the processor has every
    /// instruction subset of the SkylakeX kernels.
    public static func betterCoreType(chosen: String, cpuFlags: Set<String>, environment: [String: String]) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil,
              fallbackCores.contains(chosen.lowercased()),
              skylakeXFlags.isSubset(of: cpuFlags) else { return nil }
        return "SKYLAKEX"
    }

    /// The processor's feature flags from `/proc/cpuinfo` (empty elsewhere).
    public static func cpuFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Re-executes this process with `OPENBLAS_CORETYPE` set when ``betterCoreType`` says
    /// so; returns (and the process goes on unchanged) otherwise or if the exec fails.
    /// Call first thing in `main`, before any thread or file is opened.
    public static func useAVX512KernelsIfMisdetected() {
        guard let core = betterCoreType(chosen: coreName, cpuFlags: cpuFlags(),
                                        environment: ProcessInfo.processInfo.environment) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")  // exec failed: carry on with the kernels already loaded
    }
}
