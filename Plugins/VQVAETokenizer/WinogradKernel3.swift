import NumericsEngine

/// A kernel-3, stride-1, "same"-padded (padding = dilation) convolution over packed sequences
/// by Winograd's minimal filtering F(2, 3): two outputs from four products instead of six.
///
/// Outputs are taken in pairs `(t, t + d)` (d = dilation) with `⌊t / d⌋` even, which covers
/// every output step once; a pair whose second step falls past the sequence end computes it
/// and drops it. With the pair's inputs `x₀…x₃ = x[t − d], x[t], x[t + d], x[t + 2d]` (0
/// outside the sequence) and the weight taps `W₀, W₁, W₂` (`[out, in]` each):
///
///     D = (x₀ − x₂, x₁ + x₂, x₂ − x₁, x₁ − x₃)             input transform
///     G = (W₀, (W₀ + W₁ + W₂)/2, (W₀ − W₁ + W₂)/2, W₂)     weight transform
///     Mᵢ = Gᵢ · Dᵢ                                         four products, [out, pairs]
///     y[t] = M₀ + M₁ + M₂,  y[t + d] = M₁ − M₂ − M₃        output transform
///
/// so the convolution's products shrink from `3 · in · out · steps` multiply-adds to
/// `4 · in · out · steps / 2` — a third fewer, in the forward pass and in both gradients
/// (the same four-product structure, transposed). The transforms are additions and halvings,
/// so the result differs from direct convolution by float rounding only (tested against it).
final class WinogradKernel3 {
    let inChannels: Int, outChannels: Int, dilation: Int

    /// The four transformed weight taps `G₀…G₃`, `[4][out · in]`, kept for the input gradient.
    private var transformedWeight: Tensor?
    /// The four transformed inputs `D₀…D₃`, `[4][in · pairs]`, kept for the weight gradient.
    private var transformedInput: Tensor?
    private var shape = PackedShape(channels: 0, batch: 0, time: 0)
    private var pairStarts: [Int] = []

    init(inChannels: Int, outChannels: Int, dilation: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.dilation = dilation
    }

    /// The first steps `t` of the output pairs of one sequence of `time` steps, in order.
    static func pairStarts(time: Int, dilation d: Int) -> [Int] {
        var starts: [Int] = []
        var block = 0
        while block < time {
            for t in block..<Swift.min(block + d, time) { starts.append(t) }
            block += 2 * d
        }
        return starts
    }

    /// `y = conv(x) + bias` into `y` `[out, batch · time]`.
    func forward(_ x: UnsafePointer<Float>, _ s: PackedShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                 precision: ProductPrecision, scratch: PackedScratch, into y: UnsafeMutablePointer<Float>) {
        shape = s
        pairStarts = Self.pairStarts(time: s.time, dilation: dilation)
        let pairs = s.batch * pairStarts.count, cin = inChannels, cout = outChannels
        let g = Tensor.reuse(transformedWeight, shape: [4, cout * cin]); transformedWeight = g
        transformWeight(weight, into: g.data)
        let dIn = Tensor.reuse(transformedInput, shape: [4, cin * pairs]); transformedInput = dIn
        transformInput(x, pairs: pairs, into: dIn.data)
        let m = scratch.tensor(count: 4 * cout * pairs)
        for i in 0..<4 {
            BLAS.gemm(precision: precision, m: cout, n: pairs, k: cin, a: g.data + i * cout * cin, lda: cin,
                      b: dIn.data + i * cin * pairs, ldb: pairs, beta: 0, c: m + i * cout * pairs, ldc: pairs)
        }
        transformOutput(UnsafePointer(m), pairs: pairs, bias: bias, into: y)
    }

    /// Accumulates the weight gradient `gw` (`[out, in, 3]`) and, when `dx` is given, writes
    /// the input gradient `[in, batch · time]`. The bias gradient is the caller's.
    func backward(_ dy: UnsafePointer<Float>, gradWeight gw: UnsafeMutablePointer<Float>?, precision: ProductPrecision,
                  scratch: PackedScratch, into dx: UnsafeMutablePointer<Float>?) {
        guard let g = transformedWeight, let dIn = transformedInput else {
            preconditionFailure("WinogradKernel3.backward before forward")
        }
        let pairs = shape.batch * pairStarts.count, cin = inChannels, cout = outChannels
        let gradProducts = 4 * cout * pairs, gradTaps = 4 * cout * cin, gradInputs = 4 * cin * pairs
        let buffer = scratch.tensor(count: gradProducts + Swift.max(gradTaps, dx == nil ? 0 : gradInputs))
        let dm = buffer, rest = buffer + gradProducts
        transposeOutputTransform(dy, pairs: pairs, into: dm)
        if let gw {
            for i in 0..<4 {
                BLAS.gemm(precision: precision, transB: true, m: cout, n: cin, k: pairs, a: dm + i * cout * pairs, lda: pairs,
                          b: dIn.data + i * cin * pairs, ldb: pairs, beta: 0, c: rest + i * cout * cin, ldc: cin)
            }
            accumulateWeightGradient(UnsafePointer(rest), into: gw)
        }
        guard let dx else { return }
        for i in 0..<4 {
            BLAS.gemm(precision: precision, transA: true, m: cin, n: pairs, k: cout, a: g.data + i * cout * cin, lda: cin,
                      b: dm + i * cout * pairs, ldb: pairs, beta: 0, c: rest + i * cin * pairs, ldc: pairs)
        }
        transposeInputTransform(UnsafePointer(rest), pairs: pairs, into: dx)
    }

    // MARK: - Transforms (elementwise; channels split over the engine's threads)

    /// `G₀ = W₀, G₁ = (W₀ + W₁ + W₂)/2, G₂ = (W₀ − W₁ + W₂)/2, G₃ = W₂` from `[out, in, 3]`.
    private func transformWeight(_ w: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>) {
        let count = outChannels * inChannels
        Threads.parallelFor(count, minPerThread: 16384) { range in
            for j in range {
                let w0 = w[3 * j], w1 = w[3 * j + 1], w2 = w[3 * j + 2]
                g[j] = w0
                g[count + j] = 0.5 * (w0 + w1 + w2)
                g[2 * count + j] = 0.5 * (w0 - w1 + w2)
                g[3 * count + j] = w2
            }
        }
    }

    /// `D = (x₀ − x₂, x₁ + x₂, x₂ − x₁, x₁ − x₃)` per input channel and pair.
    private func transformInput(_ x: UnsafePointer<Float>, pairs: Int, into dIn: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, starts = pairStarts, perSequence = starts.count
        let plane = inChannels * pairs
        Threads.parallelFor(inChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, pairs))) { range in
            for c in range {
                for b in 0..<batch {
                    let xs = x + (c * batch + b) * time
                    @inline(__always) func at(_ t: Int) -> Float { t >= 0 && t < time ? xs[t] : 0 }
                    let out = dIn + c * pairs + b * perSequence
                    for (j, t) in starts.enumerated() {
                        let x0 = at(t - d), x1 = xs[t], x2 = at(t + d), x3 = at(t + 2 * d)
                        out[j] = x0 - x2
                        out[plane + j] = x1 + x2
                        out[2 * plane + j] = x2 - x1
                        out[3 * plane + j] = x1 - x3
                    }
                }
            }
        }
    }

    /// `y[t] = M₀ + M₁ + M₂ + b`, `y[t + d] = M₁ − M₂ − M₃ + b` (when `t + d` is in the sequence).
    private func transformOutput(_ m: UnsafePointer<Float>, pairs: Int, bias: UnsafePointer<Float>,
                                 into y: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, starts = pairStarts, perSequence = starts.count
        let plane = outChannels * pairs
        Threads.parallelFor(outChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, pairs))) { range in
            for c in range {
                let bc = bias[c]
                for b in 0..<batch {
                    let ys = y + (c * batch + b) * time
                    let mm = m + c * pairs + b * perSequence
                    for (j, t) in starts.enumerated() {
                        let m0 = mm[j], m1 = mm[plane + j], m2 = mm[2 * plane + j], m3 = mm[3 * plane + j]
                        ys[t] = m0 + m1 + m2 + bc
                        if t + d < time { ys[t + d] = m1 - m2 - m3 + bc }
                    }
                }
            }
        }
    }

    /// The gradient of the products from the output gradient:
    /// `dM = (dy₀, dy₀ + dy₁, dy₀ − dy₁, −dy₁)`, with `dy₁ = 0` for a dropped second step.
    private func transposeOutputTransform(_ dy: UnsafePointer<Float>, pairs: Int, into dm: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, starts = pairStarts, perSequence = starts.count
        let plane = outChannels * pairs
        Threads.parallelFor(outChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, pairs))) { range in
            for c in range {
                for b in 0..<batch {
                    let g = dy + (c * batch + b) * time
                    let out = dm + c * pairs + b * perSequence
                    for (j, t) in starts.enumerated() {
                        let g0 = g[t], g1: Float = t + d < time ? g[t + d] : 0
                        out[j] = g0
                        out[plane + j] = g0 + g1
                        out[2 * plane + j] = g0 - g1
                        out[3 * plane + j] = -g1
                    }
                }
            }
        }
    }

    /// `dW₀ += dG₀ + (dG₁ + dG₂)/2`, `dW₁ += (dG₁ − dG₂)/2`, `dW₂ += (dG₁ + dG₂)/2 + dG₃`.
    private func accumulateWeightGradient(_ dg: UnsafePointer<Float>, into gw: UnsafeMutablePointer<Float>) {
        let count = outChannels * inChannels
        Threads.parallelFor(count, minPerThread: 16384) { range in
            for j in range {
                let g0 = dg[j], g1 = dg[count + j], g2 = dg[2 * count + j], g3 = dg[3 * count + j]
                gw[3 * j] += g0 + 0.5 * (g1 + g2)
                gw[3 * j + 1] += 0.5 * (g1 - g2)
                gw[3 * j + 2] += 0.5 * (g1 + g2) + g3
            }
        }
    }

    /// The input gradient from `dD`: `dx₀ += dD₀`, `dx₁ += dD₁ − dD₂ + dD₃`,
    /// `dx₂ += dD₁ + dD₂ − dD₀`, `dx₃ −= dD₃` (inside the sequence).
    private func transposeInputTransform(_ dd: UnsafePointer<Float>, pairs: Int, into dx: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, starts = pairStarts, perSequence = starts.count
        let plane = inChannels * pairs
        Threads.parallelFor(inChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, pairs))) { range in
            for c in range {
                let row = dx + c * batch * time
                row.update(repeating: 0, count: batch * time)
                for b in 0..<batch {
                    let xs = row + b * time
                    let g = dd + c * pairs + b * perSequence
                    for (j, t) in starts.enumerated() {
                        let d0 = g[j], d1 = g[plane + j], d2 = g[2 * plane + j], d3 = g[3 * plane + j]
                        if t - d >= 0 { xs[t - d] += d0 }
                        xs[t] += d1 - d2 + d3
                        if t + d < time { xs[t + d] += d1 + d2 - d0 }
                        if t + 2 * d < time { xs[t + 2 * d] -= d3 }
                    }
                }
            }
        }
    }
}
