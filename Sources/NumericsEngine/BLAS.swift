import CBLAS

/// Thin, row-major wrappers over OpenBLAS. Every matrix product in the engine goes
/// through `BLAS.gemm`; transposed operands are expressed with the BLAS flags, never
/// by copying.
public enum BLAS {
    /// `C[m×n] = alpha · op(A) · op(B) + beta · C` with row-major storage.
    ///
    /// `op(A)` is `m×k` (A is stored `k×m` when `transA`), `op(B)` is `k×n` (B is stored
    /// `n×k` when `transB`). `lda`, `ldb`, `ldc` are row strides in elements, so
    /// sub-matrices of wider rows (one attention head inside `[tokens, heads·dim]`)
    /// can be used in place.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false,
                            m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if m == 1 && k > 0 {
            // One row (a decoding step): a matrix–vector product, which streams B once
            // instead of packing it as sgemm does.
            let incA = Int32(transA ? lda : 1)
            if transB {  // B is n×k: c = B · a
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, incA, beta, c, 1)
            } else {     // B is k×n: c = Bᵀ · a
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, incA, beta, c, 1)
            }
            return
        }
        if k == 0 {
            // BLAS would only scale C; keep the semantics explicit.
            for r in 0..<m { let row = c + r * ldc; for j in 0..<n { row[j] = beta == 0 ? 0 : row[j] * beta } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Dot product of two contiguous vectors.
    @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// `y += alpha · x` over contiguous vectors.
    @inline(__always)
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }
}
