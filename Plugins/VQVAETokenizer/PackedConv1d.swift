import BiomechCore
import NumericsEngine

/// A batch of sequences laid out channel-major: `[channels, batch · time]`, element
/// `(c, b, t)` at `c · batch · time + b · time + t`.
///
/// With this layout a convolution over the whole batch is one matrix product
/// `W [out, in·k] × columns [in·k, batch·outTime]` whose result is already the next
/// layer's input — no per-sequence products with a handful of columns, no transposes.
/// Elementwise layers (`ReLU`) and `UpsampleNearest2x` (time is the fastest index inside a
/// sequence) work on it unchanged.
public struct PackedShape: Sendable, Equatable {
    public var channels: Int, batch: Int, time: Int
    public init(channels: Int, batch: Int, time: Int) { self.channels = channels; self.batch = batch; self.time = time }
    public var columns: Int { batch * time }
    public var count: Int { channels * batch * time }
}

/// `nn.Conv1d` (zero padding, PyTorch weight layout `[out, in, kernel]`) over packed
/// sequences `[inChannels, batch · time]` → `[outChannels, batch · outTime]`.
///
/// Forward unfolds the input once (im2col; sequence boundaries act as zero padding) and
/// runs one `sgemm` with threaded BLAS. The unfolded columns are kept for the weight
/// gradient, so backward is two `sgemm`s (`dW += dY·colsᵀ`, `dcols = Wᵀ·dY`) and a fold of
/// `dcols` back into the input gradient. A 1-wide, stride-1, unpadded convolution uses its
/// input directly as the column matrix. With `algorithm = .winograd`, a kernel-3 "same"
/// convolution runs ``WinogradKernel3`` instead (a third to a half fewer multiply-adds).
public final class PackedConv1d: ParameterizedLayer {
    public let inChannels: Int, outChannels: Int, kernelSize: Int
    public let stride: Int, dilation: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter
    /// Skip the input gradient (the first layer of a network).
    public var computeInputGradient = true
    /// The arithmetic of the three products (forward, weight gradient, input gradient).
    public var precision = ProductPrecision.float32
    /// `winograd` applies to kernel 3, stride 1, padding = dilation; other shapes stay direct.
    public var algorithm = ConvolutionAlgorithm.direct {
        didSet { winograd = algorithm == .winograd && kernelSize == 3 && stride == 1 && padding == dilation
                    ? WinogradKernel3(inChannels: inChannels, outChannels: outChannels, dilation: dilation) : nil }
    }
    private var winograd: WinogradKernel3?

    private var input: Tensor?
    private var inputShape = PackedShape(channels: 0, batch: 0, time: 0)
    private var columnsBuffer: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    /// Scratch for `dcols`, shared between the layers of one network (they run one at a time).
    private let scratch: PackedScratch

    /// PyTorch's default initialisation `U(±1/√(in·kernel))` for weight and bias.
    public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                dilation: Int = 1, padding: Int = 0, scratch: PackedScratch, rng: inout SeededRandom) {
        precondition(stride >= 1 && dilation >= 1 && padding >= 0 && kernelSize >= 1, "PackedConv1d(\(name)): invalid geometry")
        let bound = 1 / Float(inChannels * kernelSize).squareRoot()
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernelSize = kernelSize
        self.stride = stride; self.dilation = dilation; self.padding = padding
        self.scratch = scratch
        weight = Parameter(name: name + ".weight",
                           value: .randomUniform(shape: [outChannels, inChannels, kernelSize], bound: bound, using: &rng))
        bias = Parameter(name: name + ".bias", value: .randomUniform(shape: [outChannels], bound: bound, using: &rng))
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func outputLength(_ time: Int) -> Int { (time + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    /// The range of output steps `to` whose input index `to·stride + offset` lies in `0..<time`.
    @inline(__always)
    private func validRange(offset: Int, time: Int, outTime: Int) -> Range<Int> {
        // to·s + offset >= 0  ⇔ to >= ceil(−offset / s);  to·s + offset <= time − 1.
        let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let hiNumerator = time - 1 - offset
        let hi = hiNumerator < 0 ? -1 : Swift.min(outTime - 1, hiNumerator / stride)
        return lo <= hi ? lo..<(hi + 1) : 0..<0
    }

    /// im2col: `cols[ci·k + kk, b·outTime + to] = x[ci, b·time + to·s + kk·d − p]` (0 outside).
    private func unfold(_ x: UnsafePointer<Float>, _ s: PackedShape, outTime: Int, into cols: UnsafeMutablePointer<Float>) {
        let rows = inChannels * kernelSize, n = s.batch * outTime, time = s.time, batch = s.batch
        let k = kernelSize, st = stride, dil = dilation, pad = padding
        Threads.parallelFor(rows, minPerThread: Swift.max(1, 8192 / Swift.max(1, n))) { range in
            for r in range {
                let ci = r / k, kk = r % k
                let offset = kk * dil - pad
                let valid = self.validRange(offset: offset, time: time, outTime: outTime)
                let src = x + ci * batch * time
                let dst = cols + r * n
                for b in 0..<batch {
                    let xr = src + b * time, cr = dst + b * outTime
                    if valid.isEmpty { cr.update(repeating: 0, count: outTime); continue }
                    if valid.lowerBound > 0 { cr.update(repeating: 0, count: valid.lowerBound) }
                    if st == 1 {
                        (cr + valid.lowerBound).update(from: xr + valid.lowerBound + offset, count: valid.count)
                    } else {
                        for to in valid { cr[to] = xr[to * st + offset] }
                    }
                    if valid.upperBound < outTime { (cr + valid.upperBound).update(repeating: 0, count: outTime - valid.upperBound) }
                }
            }
        }
    }

    /// `x [inChannels, batch·time]` → `[outChannels, batch·outTime]` (owned; overwritten next call).
    public func forward(_ x: Tensor, _ s: PackedShape) -> Tensor {
        precondition(s.channels == inChannels && x.count == s.count,
                     "PackedConv1d(\(weight.name)): input \(x.shape) as \(s), expected \(inChannels) channels")
        let outTime = outputLength(s.time)
        precondition(outTime > 0, "PackedConv1d(\(weight.name)): input length \(s.time) too short")
        input = x; inputShape = s
        let n = s.batch * outTime, ck = inChannels * kernelSize
        if let winograd {
            let y = Tensor.reuse(output, shape: [outChannels, n]); output = y
            winograd.forward(x.data, s, weight: weight.value.data, bias: bias.value.data, precision: precision,
                             scratch: scratch, into: y.data)
            return y
        }
        let cols: UnsafePointer<Float>
        if isPointwise {
            cols = UnsafePointer(x.data)
        } else {
            let c = Tensor.reuse(columnsBuffer, shape: [ck, n]); columnsBuffer = c
            unfold(x.data, s, outTime: outTime, into: c.data)
            cols = UnsafePointer(c.data)
        }
        let y = Tensor.reuse(output, shape: [outChannels, n]); output = y
        let bs = bias.value.data, yd = y.data
        Threads.parallelFor(outChannels, minPerThread: Swift.max(1, 16384 / Swift.max(1, n))) { range in
            for co in range { (yd + co * n).update(repeating: bs[co], count: n) }
        }
        BLAS.gemm(precision: precision, m: outChannels, n: n, k: ck, a: weight.value.data, lda: ck, b: cols, ldb: n, beta: 1, c: y.data, ldc: n)
        return y
    }

    /// Accumulates `dW`, `db`; returns the input gradient `[inChannels, batch·time]` (owned),
    /// or nil when `computeInputGradient` is false.
    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("PackedConv1d.backward before forward") }
        let s = inputShape, outTime = outputLength(s.time), n = s.batch * outTime, ck = inChannels * kernelSize
        precondition(gradOutput.count == outChannels * n, "PackedConv1d(\(weight.name)): gradient \(gradOutput.shape) does not match output")
        let dy = gradOutput.data
        if let winograd {
            let dx = computeInputGradient ? Tensor.reuse(gradInput, shape: [inChannels, s.columns]) : nil
            if let dx { gradInput = dx }
            winograd.backward(dy, gradWeight: weight.grad?.data, gradBias: bias.grad?.data, precision: precision,
                              scratch: scratch, into: dx?.data)
            return dx
        }
        accumulateBiasGradient(dy, columns: n)
        let cols: UnsafePointer<Float> = isPointwise ? UnsafePointer(x.data) : UnsafePointer(columnsBuffer!.data)
        if let gw = weight.grad {
            BLAS.gemm(precision: precision, transB: true, m: outChannels, n: ck, k: n, a: dy, lda: n, b: cols, ldb: n, beta: 1, c: gw.data, ldc: ck)
        }
        guard computeInputGradient else { return nil }
        let dx = Tensor.reuse(gradInput, shape: [inChannels, s.columns]); gradInput = dx
        if isPointwise {
            BLAS.gemm(precision: precision, transA: true, m: ck, n: n, k: outChannels, a: weight.value.data, lda: ck, b: dy, ldb: n,
                      beta: 0, c: dx.data, ldc: n)
            return dx
        }
        let dcols = scratch.tensor(count: ck * n)
        BLAS.gemm(precision: precision, transA: true, m: ck, n: n, k: outChannels, a: weight.value.data, lda: ck, b: dy, ldb: n,
                  beta: 0, c: dcols, ldc: n)
        fold(dcols, s, outTime: outTime, into: dx.data)
        return dx
    }

    /// `db += Σ dy` over each channel's row.
    private func accumulateBiasGradient(_ dy: UnsafePointer<Float>, columns n: Int) {
        guard let gb = bias.grad else { return }
        let g = gb.data
        Threads.parallelFor(outChannels, minPerThread: Swift.max(1, 16384 / Swift.max(1, n))) { range in
            // One serial sum per channel: its order fixes the bits of every trained tokenizer
            // (eight vector lanes would be ≈ 1.5 % faster per step and change them).
            for co in range {
                let r = dy + co * n
                var acc: Float = 0
                for j in 0..<n { acc += r[j] }
                g[co] += acc
            }
        }
    }

    /// col2im: `dx[ci, b·time + to·s + kk·d − p] += dcols[ci·k + kk, b·outTime + to]`.
    /// Channels run in parallel (each owns its rows of `dx`).
    private func fold(_ dcols: UnsafePointer<Float>, _ s: PackedShape, outTime: Int, into dx: UnsafeMutablePointer<Float>) {
        let n = s.batch * outTime, time = s.time, batch = s.batch
        let k = kernelSize, st = stride, dil = dilation, pad = padding
        Threads.parallelFor(inChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, k * n))) { range in
            for ci in range {
                let dst = dx + ci * batch * time
                dst.update(repeating: 0, count: batch * time)
                for kk in 0..<k {
                    let offset = kk * dil - pad
                    let valid = self.validRange(offset: offset, time: time, outTime: outTime)
                    if valid.isEmpty { continue }
                    let src = dcols + (ci * k + kk) * n
                    for b in 0..<batch {
                        let xr = dst + b * time, cr = src + b * outTime
                        if st == 1 {
                            let xo = xr + offset
                            for to in valid { xo[to] += cr[to] }
                        } else {
                            for to in valid { xr[to * st + offset] += cr[to] }
                        }
                    }
                }
            }
        }
    }
}

/// One growable scratch buffer shared by the layers of a network.
public final class PackedScratch: @unchecked Sendable {
    private var buffer = Tensor(shape: [0])
    public init() {}
    func tensor(count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.capacity < count { buffer = Tensor(shape: [count]) } else { buffer.resize([count]) }
        return buffer.data
    }
}
