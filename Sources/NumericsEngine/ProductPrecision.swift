import CMatrixKernels

/// The arithmetic of a matrix product.
///
/// `float32` is `sgemm`. `bfloat16` rounds both operands to bfloat16 (8 significant bits,
/// float32's exponent range) and sums the products in float32 — mixed precision, with
/// AVX512-BF16's `vdpbf16ps`, which multiplies at twice the rate of float32 FMA (measured on
/// the 2-core AVX-512 machine: 1.5–1.6× `sgemm` at transformer shapes, docs/benchmarks.md).
/// Each product then has a relative error of about 2⁻⁸ per operand, so it is an opt-in speed
/// setting, never the default; on a processor without AVX512-BF16 it falls back to `sgemm`
/// (``BLAS/hasBFloat16Products`` says which).
public enum ProductPrecision: String, Sendable, CaseIterable, Codable {
    case float32
    case bfloat16
}

extension BLAS {
    /// Whether `bfloat16` products run in bfloat16 here (the processor has AVX512-BF16).
    public static var hasBFloat16Products: Bool { matrix_kernels_have_bf16() != 0 }

    /// `C[m×n] = alpha · op(A) · op(B) + beta · C` in the given precision (same storage and
    /// flags as ``gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``). `bfloat16`
    /// splits the columns of C over the engine's threads; single rows and processors without
    /// AVX512-BF16 use the float32 path.
    public static func gemm(precision: ProductPrecision, transA: Bool = false, transB: Bool = false,
                            m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard precision == .bfloat16, m > 1, k > 0, n > 0, hasBFloat16Products else {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc)
            return
        }
        let packedA = UncheckedSendable(packSharedA(transA: transA, m: m, k: k, a: a, lda: lda))
        let out = UncheckedSendable(c)
        forColumnRanges(m: m, n: n, k: k) { n0, n1 in
            bf16_gemm_packed_a(transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, packedA.value, b, Int64(ldb),
                               beta, out.value, Int64(ldc), n0, n1)
        }
    }

    /// Rounds and packs `op(A)` once into the calling thread's reusable buffer, its row panels
    /// split over the engine's threads, so the threads that then split C's columns share it
    /// (each packing all of A for itself would do that work once per thread).
    fileprivate static func packSharedA(transA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) -> UnsafeMutableRawPointer {
        guard let buffer = bf16_shared_a_buffer(bf16_packed_a_size(Int64(m), Int64(k))) else {
            preconditionFailure("bfloat16 product: out of memory for the packed left operand (\(m) × \(k))")
        }
        let packed = UncheckedSendable(buffer)
        Threads.parallelFor((m + 11) / 12, minPerThread: Swift.max(1, 4096 / Swift.max(1, 12 * k))) { r in
            _ = bf16_pack_a(transA ? 1 : 0, Int64(m), Int64(k), a, Int64(lda), packed.value,
                            Int64(r.lowerBound), Int64(r.upperBound))
        }
        return buffer
    }

    /// Runs `product(n0, n1)` for column ranges of C in whole 32-column panels (the kernel's
    /// tile width), split over the engine's threads; a nonzero status is a failed allocation.
    fileprivate static func forColumnRanges(m: Int, n: Int, k: Int, _ product: (Int64, Int64) -> Int32) {
        let panels = (n + 31) / 32
        let minPanels = Swift.max(1, 16_384 / Swift.max(1, m * k / 32))
        Threads.parallelFor(panels, minPerThread: minPanels) { r in
            let status = product(Int64(r.lowerBound * 32), Int64(Swift.min(n, r.upperBound * 32)))
            precondition(status == 0, "bfloat16 product failed (status \(status)): out of memory for its packing buffers")
        }
    }
}

/// A matrix rounded to bfloat16 and packed once in the layout of the bfloat16 product, for
/// a frozen weight multiplied many times (``Linear`` with `productPrecision = .bfloat16`):
/// 2 bytes per value, and no packing work per product.
public final class BFloat16PackedMatrix: @unchecked Sendable {
    /// `op(B)` is `k × n`.
    public let n: Int, k: Int
    private let storage: UnsafeMutableRawPointer

    /// Packs `op(B)` (B stored `n×k` when `transB`, as a `Linear` weight `[out, in]` is);
    /// nil on a processor without AVX512-BF16.
    public init?(transB: Bool, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int) {
        guard BLAS.hasBFloat16Products, n > 0, k > 0 else { return nil }
        self.n = n; self.k = k
        storage = .allocate(byteCount: Int(bf16_packed_size(Int64(n), Int64(k))), alignment: 64)
        guard bf16_pack(transB ? 1 : 0, Int64(n), Int64(k), b, Int64(ldb), storage) == 0 else {
            storage.deallocate(); return nil
        }
    }
    deinit { storage.deallocate() }

    /// `C[m×n] = alpha · op(A) · self + beta · C`: A is packed once (row panels split over
    /// the engine's threads) and shared, then the columns of C are split over the threads.
    public func multiply(transA: Bool = false, m: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                         beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0 else { return }
        let (n, k) = (self.n, self.k)
        let packedA = UncheckedSendable(BLAS.packSharedA(transA: transA, m: m, k: k, a: a, lda: lda))
        let out = UncheckedSendable(c), packedB = UncheckedSendable(UnsafeRawPointer(storage))
        BLAS.forColumnRanges(m: m, n: n, k: k) { n0, n1 in
            bf16_gemm_prepacked(Int64(m), Int64(n), Int64(k), alpha, packedA.value, packedB.value,
                                beta, out.value, Int64(ldc), n0, n1)
        }
    }
}
