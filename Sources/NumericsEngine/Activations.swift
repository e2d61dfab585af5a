import CMatrixKernels
import Foundation

/// Elements per thread below which elementwise kernels stay on the calling thread.
@usableFromInline let elementwiseGrain = 16_384

/// `y = max(x, 0)`; backward `dx = dy · [x > 0]`. Any shape.
public final class ReLU {
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        let y = Tensor.reuse(output, shape: x.shape)
        output = y; input = x
        let xs = x.data, ys = y.data
        Threads.parallelFor(x.count, minPerThread: elementwiseGrain) { range in
            for i in range { ys[i] = Swift.max(xs[i], 0) }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("ReLU.backward before forward") }
        precondition(gradOutput.count == x.count, "ReLU: gradient \(gradOutput.shape) does not match input \(x.shape)")
        let dx = Tensor.reuse(gradInput, shape: x.shape)
        gradInput = dx
        let xs = x.data, dy = gradOutput.data, d = dx.data
        Threads.parallelFor(x.count, minPerThread: elementwiseGrain) { range in
            // The gradient is loaded unconditionally, so the compiler can vectorize the select.
            for i in range { let g = dy[i]; d[i] = xs[i] > 0 ? g : 0 }
        }
        return dx
    }
}

/// The tanh form of GELU, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
/// (PyTorch's `gelu(approximate="tanh")`, Gemma's `gelu_pytorch_tanh`).
///
/// Evaluated through the identity `0.5·(1 + tanh(u)) = σ(2u)` with the engine's
/// vectorisable `FastMath.exp`, so `GELU(x) = x·σ(2u)` and
/// `GELU'(x) = σ(2u) + 2x·σ(2u)·(1 − σ(2u))·√(2/π)·(1 + 3·0.044715·x²)`.
public enum GELUMath {
    @usableFromInline static let c: Float = 0.7978845608028654  // √(2/π)
    @usableFromInline static let a: Float = 0.044715

    /// GELU(x).
    @inlinable @inline(__always)
    public static func value(_ x: Float) -> Float {
        let s = FastMath.sigmoid(2 * c * (x + a * x * x * x))
        return x * s
    }

    /// (GELU(x), GELU'(x)).
    @inlinable @inline(__always)
    public static func valueAndDerivative(_ x: Float) -> (Float, Float) {
        let x2 = x * x
        let s = FastMath.sigmoid(2 * c * (x + a * x2 * x))
        return (x * s, s + 2 * x * s * (1 - s) * c * (1 + 3 * a * x2))
    }
}

/// GELU (tanh form) as a layer. Any shape.
public final class GELU {
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        let y = Tensor.reuse(output, shape: x.shape)
        output = y; input = x
        let xs = x.data, ys = y.data
        // The C kernel (no gate): the same bits as `GELUMath.value`, 16 lanes with AVX-512.
        Threads.parallelFor(x.count, minPerThread: elementwiseGrain) { range in
            gated_gelu(xs + range.lowerBound, nil, ys + range.lowerBound, Int64(range.count))
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("GELU.backward before forward") }
        precondition(gradOutput.count == x.count, "GELU: gradient \(gradOutput.shape) does not match input \(x.shape)")
        let dx = Tensor.reuse(gradInput, shape: x.shape)
        gradInput = dx
        let xs = x.data, dy = gradOutput.data, d = dx.data
        Threads.parallelFor(x.count, minPerThread: elementwiseGrain) { range in
            for i in range { d[i] = dy[i] * GELUMath.valueAndDerivative(xs[i]).1 }
        }
        return dx
    }
}

/// The gated GELU of Gemma's MLP: `h = gelu_tanh(gate) ⊙ up`, where `gate = x·W_gateᵀ`
/// and `up = x·W_upᵀ` come from two `Linear` layers and `h` feeds the down projection.
///
/// Shapes: `gate`, `up` and `h` are all `[tokens, intermediate]`.
/// Backward: `dgate = dh ⊙ up ⊙ gelu'(gate)`, `dup = dh ⊙ gelu(gate)`.
public final class GatedGELU {
    private var gate: Tensor?
    private var up: Tensor?
    private var output: Tensor?
    private var gradGate: Tensor?
    private var gradUp: Tensor?

    public init() {}

    public func forward(gate g: Tensor, up u: Tensor) -> Tensor {
        precondition(g.shape == u.shape, "GatedGELU: gate \(g.shape) and up \(u.shape) differ")
        let y = Tensor.reuse(output, shape: g.shape)
        output = y; gate = g; up = u
        let gs = g.data, us = u.data, ys = y.data
        // The C kernel: 16-lane vectors where the processor has AVX-512 (the same bits as
        // `GELUMath.value(g) * u`).
        Threads.parallelFor(g.count, minPerThread: elementwiseGrain) { range in
            gated_gelu(gs + range.lowerBound, us + range.lowerBound, ys + range.lowerBound, Int64(range.count))
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> (gate: Tensor, up: Tensor) {
        guard let g = gate, let u = up else { preconditionFailure("GatedGELU.backward before forward") }
        precondition(gradOutput.count == g.count, "GatedGELU: gradient \(gradOutput.shape) does not match \(g.shape)")
        let dg = Tensor.reuse(gradGate, shape: g.shape), du = Tensor.reuse(gradUp, shape: g.shape)
        gradGate = dg; gradUp = du
        let gs = g.data, us = u.data, dy = gradOutput.data, dgs = dg.data, dus = du.data
        Threads.parallelFor(g.count, minPerThread: elementwiseGrain) { range in
            for i in range {
                let (v, d) = GELUMath.valueAndDerivative(gs[i])
                dgs[i] = dy[i] * us[i] * d
                dus[i] = dy[i] * v
            }
        }
        return (dg, du)
    }
}
