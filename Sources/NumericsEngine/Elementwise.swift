import BiomechCore

/// Elementwise helpers: residual additions and gradient accumulation.
///
/// A residual connection `y = a + b` has the backward `da += dy`, `db += dy`: in a model
/// written with explicit backward, the gradient of the residual stream is simply passed
/// on to both branches, and `addInPlace` sums branch gradients.
public enum Elementwise {
    /// `out = a + b` (the residual add). `out` may be `a` or `b`.
    public static func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        precondition(a.count == b.count && a.count == out.count, "add: \(a.shape) + \(b.shape) into \(out.shape)")
        let x = a.data, y = b.data, z = out.data
        Threads.parallelFor(a.count, minPerThread: elementwiseGrain) { range in
            for i in range { z[i] = x[i] + y[i] }
        }
    }

    /// `target += alpha · source` (gradient accumulation across branches).
    public static func addInPlace(_ target: Tensor, _ source: Tensor, alpha: Float = 1) {
        precondition(target.count == source.count, "addInPlace: \(source.shape) into \(target.shape)")
        let x = source.data, y = target.data
        Threads.parallelFor(target.count, minPerThread: elementwiseGrain) { range in
            for i in range { y[i] += alpha * x[i] }
        }
    }

    /// `t *= alpha`.
    public static func scale(_ t: Tensor, by alpha: Float) {
        let x = t.data
        Threads.parallelFor(t.count, minPerThread: elementwiseGrain) { range in
            for i in range { x[i] *= alpha }
        }
    }
}

/// Residual addition as a layer: `forward(a, b) = a + b`, `backward(dy) = dy` for both inputs.
public final class ResidualAdd {
    private var output: Tensor?
    public init() {}

    public func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "ResidualAdd: \(a.shape) + \(b.shape)")
        let y = Tensor.reuse(output, shape: a.shape)
        output = y
        Elementwise.add(a, b, into: y)
        return y
    }

    /// The gradient for both inputs is `gradOutput` itself (returned, not copied).
    public func backward(_ gradOutput: Tensor) -> (a: Tensor, b: Tensor) { (gradOutput, gradOutput) }
}

/// Inverted dropout: in training, each element is zeroed with probability `p` and the
/// rest scaled by `1/(1-p)`; in evaluation it is the identity. The mask is drawn from a
/// `SeededRandom`, so runs are reproducible. Backward multiplies by the same mask.
public final class Dropout {
    public let probability: Float
    public var isTraining = true
    private var mask: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var lastWasIdentity = true

    public init(probability: Float) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability
    }

    public func forward(_ x: Tensor, rng: inout SeededRandom) -> Tensor {
        lastWasIdentity = !isTraining || probability == 0
        if lastWasIdentity { return x }
        let y = Tensor.reuse(output, shape: x.shape), m = Tensor.reuse(mask, shape: x.shape)
        output = y; mask = m
        let keep = 1 / (1 - probability)
        // The mask is drawn serially so it does not depend on the thread count.
        for i in 0..<x.count { m.data[i] = rng.nextFloat() < probability ? 0 : keep }
        let xs = x.data, ms = m.data, ys = y.data
        Threads.parallelFor(x.count, minPerThread: elementwiseGrain) { range in
            for i in range { ys[i] = xs[i] * ms[i] }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        if lastWasIdentity { return gradOutput }
        guard let m = mask else { preconditionFailure("Dropout.backward before forward") }
        let dx = Tensor.reuse(gradInput, shape: m.shape)
        gradInput = dx
        let dy = gradOutput.data, ms = m.data, d = dx.data
        Threads.parallelFor(m.count, minPerThread: elementwiseGrain) { range in
            for i in range { d[i] = dy[i] * ms[i] }
        }
        return dx
    }
}

/// Mean squared error, `L = mean((prediction − target)²)` over all elements.
/// Backward: `dprediction = 2·(prediction − target)/n · scale`.
public final class MSELoss {
    private var gradInput: Tensor?
    private var prediction: Tensor?
    private var target: Tensor?

    public init() {}

    public func forward(prediction p: Tensor, target t: Tensor) -> Float {
        precondition(p.count == t.count, "MSELoss: prediction \(p.shape) and target \(t.shape) differ")
        prediction = p; target = t
        var sum: Double = 0
        for i in 0..<p.count { let d = Double(p.data[i] - t.data[i]); sum += d * d }
        return Float(sum / Double(Swift.max(p.count, 1)))
    }

    /// The gradient with respect to the prediction, times `scale` (e.g. `1/microBatches`).
    public func backward(scale: Float = 1) -> Tensor {
        guard let p = prediction, let t = target else { preconditionFailure("MSELoss.backward before forward") }
        let dx = Tensor.reuse(gradInput, shape: p.shape)
        gradInput = dx
        let k = 2 * scale / Float(Swift.max(p.count, 1))
        let ps = p.data, ts = t.data, d = dx.data
        Threads.parallelFor(p.count, minPerThread: elementwiseGrain) { range in
            for i in range { d[i] = k * (ps[i] - ts[i]) }
        }
        return dx
    }
}
