import Foundation
import Testing
@testable import NumericsEngine

@Suite("OpenBLAS kernel choice")
struct BLASKernelsTests {
    static let zen4: Set<String> = ["avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"]

    @Test("a fallback family on an AVX-512 processor asks for SkylakeX kernels")
    func misdetected() {
        #expect(BLASKernels.betterCoreType(chosen: "Haswell", cpuFlags: Self.zen4, environment: [:]) == "SKYLAKEX")
        #expect(BLASKernels.betterCoreType(chosen: "Zen", cpuFlags: Self.zen4, environment: ["PATH": "/bin"]) == "SKYLAKEX")
    }

    @Test("an explicit OPENBLAS_CORETYPE, an AVX-512 family, or a processor without AVX-512 keeps the choice")
    func kept() {
        #expect(BLASKernels.betterCoreType(chosen: "Haswell", cpuFlags: Self.zen4, environment: ["OPENBLAS_CORETYPE": "Haswell"]) == nil)
        #expect(BLASKernels.betterCoreType(chosen: "SkylakeX", cpuFlags: Self.zen4, environment: [:]) == nil)
        #expect(BLASKernels.betterCoreType(chosen: "Cooperlake", cpuFlags: Self.zen4, environment: [:]) == nil)
        #expect(BLASKernels.betterCoreType(chosen: "Haswell", cpuFlags: ["avx2", "fma", "avx512f"], environment: [:]) == nil)
    }

    @Test("flags are read from the first 'flags' line of a cpuinfo file")
    func flagsFromCpuinfo() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID().uuidString)")
        try "processor\t: 0\nmodel name\t: Test\nflags\t\t: fpu sse2 avx512f avx512vl\nbugs\t\t: none\nflags\t\t: other\n"
            .write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(BLASKernels.cpuFlags(cpuinfo: url.path) == ["fpu", "sse2", "avx512f", "avx512vl"])
        #expect(BLASKernels.cpuFlags(cpuinfo: "/nonexistent/cpuinfo").isEmpty)
        #expect(!BLASKernels.coreName.isEmpty)
    }
}
