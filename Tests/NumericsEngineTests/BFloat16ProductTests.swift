import BiomechCore
import Foundation
import Testing
@testable import NumericsEngine

/// bfloat16 products against a Double reference (an independent triple loop).
@Suite("bfloat16 matrix products", .serialized)
struct BFloat16ProductTests {
    /// Round to the nearest bfloat16 (ties to even), as the kernel's packing does.
    static func roundedToBFloat16(_ x: Float) -> Float {
        var bits = x.bitPattern
        bits = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: bits)
    }

    /// `op(A)·op(B)` in Double with |op(A)|·|op(B)| for error bounds.
    static func reference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float]) -> (value: [Double], magnitude: [Double]) {
        var v = [Double](repeating: 0, count: m * n), mag = v
        for i in 0..<m { for j in 0..<n { for p in 0..<k {
            let x = Double(transA ? a[p * m + i] : a[i * k + p]), y = Double(transB ? b[j * k + p] : b[p * n + j])
            v[i * n + j] += x * y; mag[i * n + j] += abs(x * y)
        } } }
        return (v, mag)
    }

    static func random(_ count: Int, _ rng: inout SeededRandom, rounded: Bool) -> [Float] {
        (0..<count).map { _ in let x = Float(rng.nextGaussian()); return rounded ? roundedToBFloat16(x) : x }
    }

    /// (61, 100, 600) and (30, 70, 301) reach the vector packing paths: whole 16-pair blocks
    /// with a pair tail, an odd k, row panels split over several 48-row lines when A is
    /// transposed, and 16-row groups (full and partial) when B is.
    @Test("equal to float32 products of bfloat16-rounded inputs, every transpose, ragged sizes, k across blocks",
          arguments: [(13, 45, 37), (25, 70, 300), (2, 33, 1), (61, 100, 600), (30, 70, 301)])
    func matchesRoundedReference(shape: (Int, Int, Int)) {
        guard BLAS.hasBFloat16Products else { print("SKIP bfloat16 products: this processor has no AVX512-BF16"); return }
        let (m, n, k) = shape
        var rng = SeededRandom(seed: UInt64(m * 1000 + k))
        for transA in [false, true] { for transB in [false, true] {
            let a = Self.random(m * k, &rng, rounded: true), b = Self.random(k * n, &rng, rounded: true)
            let ref = Self.reference(transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b)
            let start = Self.random(m * n, &rng, rounded: false)
            for beta: Float in [0, 1] {
                var c = start
                BLAS.gemm(precision: .bfloat16, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                          a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: beta, c: &c, ldc: n)
                var worst = 0.0
                for i in 0..<(m * n) {
                    let expected = 0.5 * ref.value[i] + Double(beta) * Double(start[i])
                    worst = max(worst, abs(Double(c[i]) - expected) / (0.5 * ref.magnitude[i] + abs(Double(start[i])) + 1e-30))
                }
                #expect(worst < 1e-5, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta): relative error \(worst)")
            }
        } }
    }

    @Test("unrounded inputs stay within bfloat16's rounding (2⁻⁸ of Σ|a·b| per entry)")
    func roundingBound() {
        guard BLAS.hasBFloat16Products else { print("SKIP bfloat16 products: this processor has no AVX512-BF16"); return }
        let (m, n, k) = (20, 50, 130)
        var rng = SeededRandom(seed: 5)
        let a = Self.random(m * k, &rng, rounded: false), b = Self.random(n * k, &rng, rounded: false)
        let ref = Self.reference(transA: false, transB: true, m: m, n: n, k: k, a: a, b: b)
        var c = [Float](repeating: 0, count: m * n)
        BLAS.gemm(precision: .bfloat16, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, beta: 0, c: &c, ldc: n)
        var worst = 0.0, typical = 0.0
        for i in 0..<(m * n) {
            let e = abs(Double(c[i]) - ref.value[i]) / ref.magnitude[i]
            worst = max(worst, e); typical += e / Double(m * n)
        }
        #expect(worst <= 1.0 / 256, "worst relative error \(worst)")
        #expect(typical > 1e-6, "the products were not rounded at all (mean relative error \(typical))")
    }

    @Test("a packed frozen weight gives the same bits as packing per product; Linear uses it only when frozen")
    func packedWeight() {
        guard BLAS.hasBFloat16Products else { print("SKIP bfloat16 products: this processor has no AVX512-BF16"); return }
        var rng = SeededRandom(seed: 9)
        let (rows, inF, outF) = (17, 300, 70)
        let w = Tensor.randomNormal(shape: [outF, inF], std: 1, using: &rng)
        let x = Tensor.randomNormal(shape: [rows, inF], std: 1, using: &rng)
        var perProduct = [Float](repeating: 0, count: rows * outF)
        BLAS.gemm(precision: .bfloat16, transB: true, m: rows, n: outF, k: inF, a: x.data, lda: inF, b: w.data, ldb: inF,
                  beta: 0, c: &perProduct, ldc: outF)
        let linear = Linear(weight: Parameter(name: "w", value: w, isTrainable: false))
        let float32 = linear.forward(x).scalars
        linear.productPrecision = .bfloat16
        #expect(linear.forward(x).scalars == perProduct)
        #expect(linear.forward(x).scalars != float32, "bfloat16 rounding changes some bits")
        linear.weight.unfreeze()
        #expect(linear.forward(x).scalars == perProduct, "a trainable weight is packed per product, with the same result")
    }

    @Test("float32 precision, single rows and k = 0 go through the float32 path")
    func fallbacks() {
        var rng = SeededRandom(seed: 4)
        let a = Self.random(3 * 8, &rng, rounded: false), b = Self.random(8 * 5, &rng, rounded: false)
        var x = [Float](repeating: 0, count: 15), y = x
        BLAS.gemm(m: 3, n: 5, k: 8, a: a, lda: 8, b: b, ldb: 5, beta: 0, c: &x, ldc: 5)
        BLAS.gemm(precision: .float32, m: 3, n: 5, k: 8, a: a, lda: 8, b: b, ldb: 5, beta: 0, c: &y, ldc: 5)
        #expect(x == y)
        var one1 = [Float](repeating: 0, count: 5), one2 = one1
        BLAS.gemm(m: 1, n: 5, k: 8, a: a, lda: 8, b: b, ldb: 5, beta: 0, c: &one1, ldc: 5)
        BLAS.gemm(precision: .bfloat16, m: 1, n: 5, k: 8, a: a, lda: 8, b: b, ldb: 5, beta: 0, c: &one2, ldc: 5)
        #expect(one1 == one2)
        var z: [Float] = [1, 2, 3, 4]
        BLAS.gemm(precision: .bfloat16, m: 2, n: 2, k: 0, a: a, lda: 1, b: b, ldb: 2, beta: 0, c: &z, ldc: 2)
        #expect(z == [0, 0, 0, 0])
        // alpha 0 reads neither operand (a NaN there does not reach C), as BLAS.
        var nanA = a; nanA[0] = .nan
        var w: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        BLAS.gemm(precision: .bfloat16, m: 3, n: 5, k: 8, alpha: 0, a: nanA, lda: 8, b: b, ldb: 5, beta: 2, c: &w, ldc: 5)
        #expect(w == (1...15).map { 2 * Float($0) })
        // An empty product through a packed weight does nothing.
        if let packed = BFloat16PackedMatrix(transB: false, n: 5, k: 8, b: b, ldb: 5) {
            var none: [Float] = []
            packed.multiply(m: 0, a: a, lda: 8, beta: 0, c: &none, ldc: 5)
        }
    }
}
