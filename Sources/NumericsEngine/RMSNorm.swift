import Foundation

/// Root-mean-square normalisation over the last `dimension` values of each row:
/// `y = x / √(mean(x²) + ε) ⊙ w_eff`, with `w_eff = weight + weightOffset`.
///
/// Gemma's Hugging Face checkpoints store `w` and multiply by `(1 + w)`: use
/// `weightOffset: 1` for those. GGUF files store the `+1` already: use `weightOffset: 0`.
/// The gradient is the same either way (`∂w_eff/∂w = 1`).
///
/// Shapes: `x` is `[..., dimension]`; any leading dimensions are rows. For Gemma's q/k
/// norms over the head dimension, pass `[tokens, heads · headDim]` with
/// `dimension = headDim`: each head of each token is one row.
///
/// Saves its input and the per-row `1/rms` for backward:
/// `dx = r · (ĝ − x̂ · mean(ĝ ⊙ x̂))` with `ĝ = dy ⊙ w_eff`, `x̂ = x · r`; `dw += Σ_rows dy ⊙ x̂`.
public final class RMSNorm: ParameterizedLayer {
    public let dimension: Int
    public let epsilon: Float
    public let weightOffset: Float
    public let weight: Parameter

    private var input: Tensor?
    private var inverseRMS: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    /// A new norm with weight `initialValue` (1 for `weightOffset: 0`, 0 for `weightOffset: 1`).
    public init(name: String, dimension: Int, epsilon: Float = 1e-6, weightOffset: Float = 0, initialValue: Float? = nil) {
        self.dimension = dimension
        self.epsilon = epsilon
        self.weightOffset = weightOffset
        weight = Parameter(name: name + ".weight",
                           value: Tensor(shape: [dimension], repeating: initialValue ?? (1 - weightOffset)))
    }

    /// A norm over an existing weight parameter.
    public init(weight: Parameter, epsilon: Float = 1e-6, weightOffset: Float = 0) {
        self.weight = weight
        dimension = weight.value.count
        self.epsilon = epsilon
        self.weightOffset = weightOffset
    }

    public var parameters: [Parameter] { [weight] }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.count % dimension == 0, "RMSNorm(\(weight.name)): input \(x.shape) is not rows of \(dimension)")
        let rows = x.count / dimension, d = dimension
        let y = Tensor.reuse(output, shape: x.shape), r = Tensor.reuse(inverseRMS, shape: [rows])
        output = y; inverseRMS = r; input = x
        let xs = x.data, ys = y.data, rs = r.data, w = weight.value.data, off = weightOffset, eps = epsilon
        Threads.parallelFor(rows, minPerThread: 16) { range in
            for row in range {
                let xr = xs + row * d, yr = ys + row * d
                let ss = Reduce.dot(xr, xr, count: d)
                let inv = 1 / (ss / Float(d) + eps).squareRoot()
                rs[row] = inv
                for j in 0..<d { yr[j] = xr[j] * inv * (w[j] + off) }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input, let r = inverseRMS else { preconditionFailure("RMSNorm.backward before forward") }
        precondition(gradOutput.count == x.count, "RMSNorm(\(weight.name)): gradient \(gradOutput.shape) does not match input \(x.shape)")
        let rows = x.count / dimension, d = dimension
        let dx = Tensor.reuse(gradInput, shape: x.shape)
        gradInput = dx
        let xs = x.data, dy = gradOutput.data, dxs = dx.data, rs = r.data, w = weight.value.data, off = weightOffset
        Threads.parallelFor(rows, minPerThread: 16) { range in
            for row in range {
                let xr = xs + row * d, gr = dy + row * d, dr = dxs + row * d
                let inv = rs[row]
                var dotp: Float = 0
                for j in 0..<d { dotp += gr[j] * (w[j] + off) * xr[j] }
                let k = dotp * inv * inv / Float(d)
                for j in 0..<d { dr[j] = inv * (gr[j] * (w[j] + off) - xr[j] * k) }
            }
        }
        if let gw = weight.grad {
            let g = gw.data
            Threads.parallelFor(d, minPerThread: 64) { cols in
                for row in 0..<rows {
                    let xr = xs + row * d, gr = dy + row * d, inv = rs[row]
                    for j in cols { g[j] += gr[j] * xr[j] * inv }
                }
            }
        }
        return dx
    }
}
