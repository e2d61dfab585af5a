import CMatrixKernels
import Foundation
import Testing
@testable import NumericsEngine

@Suite("Fast elementary functions and reductions")
struct FastMathTests {
    @Test func expRelativeError() {
        var worst: Double = 0
        var x: Float = -80
        while x < 80 {
            let want = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(FastMath.exp(x)) - want) / want)
            x += 0.0137
        }
        #expect(worst < 4e-7)
        #expect(FastMath.exp(0) == 1)
        #expect(FastMath.exp(-.infinity) < 1e-37)
        #expect(FastMath.exp(1000).isFinite)
    }

    @Test func vectorExpMatchesScalarPath() {
        var values = (0..<45).map { Float($0) * 0.37 - 9 }
        values.withUnsafeMutableBufferPointer { p in FastMath.expInPlace(p.baseAddress!, count: 45, subtracting: 1.5) }
        for (i, v) in values.enumerated() {
            let want = Foundation.exp(Double((Float(i) * 0.37 - 9) - 1.5))  // the argument as the kernel forms it in Float
            #expect(abs(Double(v) - want) / want < 4e-7)
        }
    }

    @Test func reductions() {
        let values = (0..<37).map { Float($0) * 0.5 - 3 }
        values.withUnsafeBufferPointer { p in
            #expect(Reduce.sum(p.baseAddress!, count: 37) == values.reduce(0, +))
            #expect(Reduce.max(p.baseAddress!, count: 37) == 15)
            #expect(abs(Reduce.dot(p.baseAddress!, p.baseAddress!, count: 37) - values.reduce(0) { $0 + $1 * $1 }) < 1e-3)
            #expect(Reduce.max(p.baseAddress!, count: 0) == -.infinity)
        }
    }

    /// Inputs across GELU's range: both tails (where e^x is clamped), around 0, and tiny values.
    static let geluInputs: [Float] = (0..<403).map { Float($0) * 0.25 - 50 } + [0, -0, 1e-30, -1e-30, 90, -90, 1e4, -1e4]

    @Test("GELU: the AVX-512 C kernel and the portable C path give the scalar's bits, with and without a gate")
    func geluPathsAgreeBitwise() {
        let x = Self.geluInputs, n = x.count
        let up = (0..<n).map { Float($0 % 7) * 0.5 - 1.25 }
        let scalar = zip(x, up).map { GELUMath.value($0) * $1 }
        var vectorC = [Float](repeating: .nan, count: n), portableC = vectorC
        gated_gelu(x, up, &vectorC, Int64(n))
        gated_gelu_portable(x, up, &portableC, Int64(n))
        let layer = GELU().forward(Tensor(shape: [n], values: x)).scalars
        var ungatedC = [Float](repeating: .nan, count: n), ungatedPortable = ungatedC
        gated_gelu(x, nil, &ungatedC, Int64(n))
        gated_gelu_portable(x, nil, &ungatedPortable, Int64(n))
        for i in 0..<n {
            #expect(ungatedC[i].bitPattern == GELUMath.value(x[i]).bitPattern, "gated_gelu(\(x[i]), no gate)")
            #expect(ungatedPortable[i].bitPattern == GELUMath.value(x[i]).bitPattern, "gated_gelu_portable(\(x[i]), no gate)")
            #expect(vectorC[i].bitPattern == scalar[i].bitPattern, "gated_gelu(\(x[i])) = \(vectorC[i]), scalar \(scalar[i])")
            #expect(portableC[i].bitPattern == scalar[i].bitPattern, "gated_gelu_portable(\(x[i])) = \(portableC[i])")
            #expect(layer[i].bitPattern == GELUMath.value(x[i]).bitPattern, "GELU layer at \(x[i])")
        }
        // The gated layer (split over threads) is the same kernel.
        let gated = GatedGELU().forward(gate: Tensor(shape: [n], values: x), up: Tensor(shape: [n], values: up)).scalars
        #expect(gated.map(\.bitPattern) == scalar.map(\.bitPattern))
        // Against the definition in Double (tanh form).
        for v in x where abs(v) < 20 {
            let d = Double(v), want = 0.5 * d * (1 + Foundation.tanh(0.7978845608028654 * (d + 0.044715 * d * d * d)))
            #expect(abs(Double(GELUMath.value(v)) - want) <= 2e-6 * max(1, abs(want)), "GELU(\(v))")
        }
    }
}
