import Foundation
import BiomechCore
import NumericsEngine

/// Finite-difference helpers shared by the test targets. The engine computes in Float32, so central differences use
/// a step of `1e-2` (smooth ops; the truncation error is O(h²)) and the loss is
/// accumulated in Double as `Σ output ⊙ R` for a fixed random `R`. The stated tolerance
/// is `|numeric − analytic| ≤ atol + rtol · max|analytic|` with atol 2e-3, rtol 1e-2.
public enum GradCheck {
    public static let step: Float = 1e-2
    public static let atol: Double = 2e-3
    public static let rtol: Double = 1e-2

    /// `Σ out ⊙ r` in Double.
    public static func weightedSum(_ out: Tensor, _ r: Tensor) -> Double {
        precondition(out.count == r.count)
        var s: Double = 0
        for i in 0..<out.count { s += Double(out.data[i]) * Double(r.data[i]) }
        return s
    }

    /// Central differences of `loss` with respect to every element of `x`.
    public static func numeric(_ x: Tensor, step h: Float = step, _ loss: () -> Double) -> [Double] {
        var g = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let orig = x.data[i]
            x.data[i] = orig + h; let lp = loss()
            x.data[i] = orig - h; let lm = loss()
            x.data[i] = orig
            g[i] = (lp - lm) / Double(2 * h)
        }
        return g
    }

    /// The worst violation of the tolerance (≤ 0 means the check passes).
    public static func violation(_ numeric: [Double], _ analytic: Tensor, atol: Double = atol, rtol: Double = rtol) -> Double {
        precondition(numeric.count == analytic.count, "gradient sizes differ: \(numeric.count) vs \(analytic.count)")
        let scale = (0..<analytic.count).map { abs(Double(analytic.data[$0])) }.max() ?? 0
        var worst = -Double.infinity
        for i in 0..<numeric.count {
            worst = max(worst, abs(numeric[i] - Double(analytic.data[i])) - (atol + rtol * scale))
        }
        return worst
    }

    /// Whether one entry's finite difference agrees with its analytic gradient, with the
    /// tolerance of checks through a whole language model (float32 losses of many positions):
    /// `|numeric − analytic| ≤ 2e-3 + 2e-2 · |analytic|`.
    public static func agreesThroughModel(_ numeric: Double, _ analytic: Double) -> Bool {
        abs(numeric - analytic) <= 2e-3 + 2e-2 * abs(analytic)
    }

    public static func random(_ shape: [Int], _ rng: inout SeededRandom, std: Float = 1) -> Tensor {
        Tensor.randomNormal(shape: shape, std: std, using: &rng)
    }

    /// The central difference of `loss` in element `index` of `parameter` (step `h`); the
    /// value is restored afterwards.
    public static func centralDifference(_ parameter: Parameter, _ index: Int, step h: Float = step,
                                         _ loss: () throws -> Double) rethrows -> Double {
        let orig = parameter.value.data[index]
        defer { parameter.value.data[index] = orig }
        parameter.value.data[index] = orig + h
        let lp = try loss()
        parameter.value.data[index] = orig - h
        let lm = try loss()
        return (lp - lm) / Double(2 * h)
    }
}
