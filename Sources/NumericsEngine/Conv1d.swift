import BiomechCore

/// One-dimensional convolution in PyTorch's layout and semantics (`nn.Conv1d` with
/// zero padding): input `[batch, inChannels, time]`, weight `[outChannels, inChannels,
/// kernel]`, bias `[outChannels]`, output `[batch, outChannels, outTime]` with
/// `outTime = (time + 2·padding − dilation·(kernel−1) − 1) / stride + 1`.
///
/// Implementation: im2col + `sgemm`. For each sequence the input is unfolded into a
/// `[inChannels·kernel, outTime]` matrix and multiplied by the weight seen as
/// `[outChannels, inChannels·kernel]`. Backward recomputes the unfolding (only the input
/// is saved), accumulates `dW += dY·colᵀ` and folds `Wᵀ·dY` back into the input
/// gradient. Sequences of a batch run in parallel with per-thread scratch buffers.
public final class Conv1d: ParameterizedLayer {
    public let inChannels: Int, outChannels: Int, kernelSize: Int
    public let stride: Int, dilation: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var computeInputGradient = true

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var columns: [Tensor] = []
    private var partialWeightGrads: [Tensor] = []

    /// PyTorch's default initialisation `U(-1/√(in·kernel), 1/√(in·kernel))`; parameters
    /// `name.weight`, `name.bias`.
    public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                dilation: Int = 1, padding: Int = 0, bias: Bool = true, rng: inout SeededRandom) {
        let bound = 1 / Float(inChannels * kernelSize).squareRoot()
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernelSize = kernelSize
        self.stride = stride; self.dilation = dilation; self.padding = padding
        weight = Parameter(name: name + ".weight",
                           value: .randomUniform(shape: [outChannels, inChannels, kernelSize], bound: bound, using: &rng))
        self.bias = bias ? Parameter(name: name + ".bias", value: .randomUniform(shape: [outChannels], bound: bound, using: &rng)) : nil
        precondition(stride >= 1 && dilation >= 1 && padding >= 0 && kernelSize >= 1, "Conv1d(\(name)): invalid geometry")
    }

    /// A convolution over existing parameters (weight `[out, in, kernel]`).
    public init(weight: Parameter, bias: Parameter?, stride: Int = 1, dilation: Int = 1, padding: Int = 0) {
        precondition(weight.value.rank == 3, "\(weight.name): a conv1d weight is [out, in, kernel]")
        self.weight = weight; self.bias = bias
        outChannels = weight.value.shape[0]; inChannels = weight.value.shape[1]; kernelSize = weight.value.shape[2]
        self.stride = stride; self.dilation = dilation; self.padding = padding
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// The output length for an input of `time` steps.
    public func outputLength(_ time: Int) -> Int { (time + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 }

    private func prepareScratch(parts: Int, outTime: Int) {
        while columns.count < parts { columns.append(Tensor(shape: [0])) }
        for c in columns.prefix(parts) { c.resize([inChannels * kernelSize, outTime]) }
    }

    /// Runs `body(part, range)` over sequences: in parallel with serial BLAS when there are
    /// several sequences, otherwise inline with threaded BLAS.
    private func overSequences(_ batch: Int, _ body: (Int, Range<Int>) -> Void) -> Int {
        let parts = Threads.partCount(batch)
        if parts > 1 { Threads.withSerialBLAS { Threads.parallelParts(batch, parts: parts, body) } } else { body(0, 0..<batch) }
        return parts
    }

    private func unfold(_ x: UnsafePointer<Float>, time: Int, outTime: Int, into col: UnsafeMutablePointer<Float>) {
        for ci in 0..<inChannels {
            let xr = x + ci * time
            for kk in 0..<kernelSize {
                let row = col + (ci * kernelSize + kk) * outTime
                let offset = kk * dilation - padding
                for to in 0..<outTime {
                    let ti = to * stride + offset
                    row[to] = (ti >= 0 && ti < time) ? xr[ti] : 0
                }
            }
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 3 && x.shape[1] == inChannels, "Conv1d(\(weight.name)): input \(x.shape), expected [batch, \(inChannels), time]")
        let batch = x.shape[0], time = x.shape[2], outTime = outputLength(time)
        precondition(outTime > 0, "Conv1d(\(weight.name)): input length \(time) too short")
        let y = Tensor.reuse(output, shape: [batch, outChannels, outTime]); output = y
        input = x
        prepareScratch(parts: Threads.partCount(batch), outTime: outTime)
        let ck = inChannels * kernelSize, w = weight.value.data, bs = bias?.value.data
        _ = overSequences(batch) { part, range in
            let col = self.columns[part].data
            for b in range {
                self.unfold(x.data + b * self.inChannels * time, time: time, outTime: outTime, into: col)
                let yb = y.data + b * self.outChannels * outTime
                var beta: Float = 0
                if let bs {
                    for co in 0..<self.outChannels { (yb + co * outTime).update(repeating: bs[co], count: outTime) }
                    beta = 1
                }
                BLAS.gemm(m: self.outChannels, n: outTime, k: ck, a: w, lda: ck, b: col, ldb: outTime, beta: beta, c: yb, ldc: outTime)
            }
        }
        return y
    }

    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("Conv1d.backward before forward") }
        let batch = x.shape[0], time = x.shape[2], outTime = outputLength(time)
        precondition(gradOutput.count == batch * outChannels * outTime, "Conv1d(\(weight.name)): gradient \(gradOutput.shape) does not match output")
        let parts = Threads.partCount(batch), ck = inChannels * kernelSize
        prepareScratch(parts: parts, outTime: outTime)
        let wantW = weight.grad != nil, wantX = computeInputGradient
        if wantW {
            while partialWeightGrads.count < parts { partialWeightGrads.append(Tensor(shape: [outChannels, ck])) }
            for p in partialWeightGrads.prefix(parts) { p.zero() }
        }
        var dx: Tensor? = nil
        if wantX { let t = Tensor.reuse(gradInput, shape: x.shape); gradInput = t; t.zero(); dx = t }
        let w = weight.value.data, dy = gradOutput.data
        _ = overSequences(batch) { part, range in
            let col = self.columns[part].data
            for b in range {
                let dyb = dy + b * self.outChannels * outTime
                if wantW {
                    self.unfold(x.data + b * self.inChannels * time, time: time, outTime: outTime, into: col)
                    BLAS.gemm(transB: true, m: self.outChannels, n: ck, k: outTime, a: dyb, lda: outTime, b: col, ldb: outTime,
                              beta: 1, c: self.partialWeightGrads[part].data, ldc: ck)
                }
                if let dx {
                    // dcol = Wᵀ · dY, folded back into dx.
                    BLAS.gemm(transA: true, m: ck, n: outTime, k: self.outChannels, a: w, lda: ck, b: dyb, ldb: outTime,
                              beta: 0, c: col, ldc: outTime)
                    let dxb = dx.data + b * self.inChannels * time
                    for ci in 0..<self.inChannels {
                        let xr = dxb + ci * time
                        for kk in 0..<self.kernelSize {
                            let row = col + (ci * self.kernelSize + kk) * outTime
                            let offset = kk * self.dilation - self.padding
                            for to in 0..<outTime {
                                let ti = to * self.stride + offset
                                if ti >= 0 && ti < time { xr[ti] += row[to] }
                            }
                        }
                    }
                }
            }
        }
        if let gw = weight.grad {
            for p in partialWeightGrads.prefix(parts) { BLAS.axpy(1, p.data, gw.data, count: gw.count) }
        }
        if let gb = bias?.grad {
            for b in 0..<batch {
                for co in 0..<outChannels {
                    let r = dy + (b * outChannels + co) * outTime
                    var s: Float = 0
                    for t in 0..<outTime { s += r[t] }
                    gb.data[co] += s
                }
            }
        }
        return dx
    }
}

/// Nearest-neighbour upsampling by 2 along time: `[batch, channels, time]` →
/// `[batch, channels, 2·time]` with `y[…, 2t] = y[…, 2t+1] = x[…, t]`.
/// Backward: `dx[…, t] = dy[…, 2t] + dy[…, 2t+1]`.
public final class UpsampleNearest2x {
    private var inputShape: [Int] = []
    private var output: Tensor?
    private var gradInput: Tensor?

    public init() {}

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 1, "UpsampleNearest2x needs [..., time]")
        inputShape = x.shape
        let y = Tensor.reuse(output, shape: Array(x.shape.dropLast()) + [x.lastDimension * 2]); output = y
        let xs = x.data, ys = y.data
        Threads.parallelFor(x.count, minPerThread: elementwiseGrain) { range in
            for i in range { ys[2 * i] = xs[i]; ys[2 * i + 1] = xs[i] }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let dx = Tensor.reuse(gradInput, shape: inputShape); gradInput = dx
        precondition(gradOutput.count == 2 * dx.count, "UpsampleNearest2x: gradient \(gradOutput.shape) does not match")
        let dy = gradOutput.data, d = dx.data
        Threads.parallelFor(dx.count, minPerThread: elementwiseGrain) { range in
            for i in range { d[i] = dy[2 * i] + dy[2 * i + 1] }
        }
        return dx
    }
}
