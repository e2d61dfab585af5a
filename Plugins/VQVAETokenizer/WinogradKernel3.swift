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
    /// Output pairs per sequence.
    private var perSequence = 0

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
        perSequence = Self.pairStarts(time: s.time, dilation: dilation).count
        let pairs = s.batch * perSequence, cin = inChannels, cout = outChannels
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

    /// Accumulates the weight gradient `gw` (`[out, in, 3]`) and the bias gradient `gb`
    /// (summed while `dy` is read for the products) and, when `dx` is given, writes the input
    /// gradient `[in, batch · time]`.
    func backward(_ dy: UnsafePointer<Float>, gradWeight gw: UnsafeMutablePointer<Float>?, gradBias gb: UnsafeMutablePointer<Float>?,
                  precision: ProductPrecision, scratch: PackedScratch, into dx: UnsafeMutablePointer<Float>?) {
        guard let g = transformedWeight, let dIn = transformedInput else {
            preconditionFailure("WinogradKernel3.backward before forward")
        }
        let pairs = shape.batch * perSequence, cin = inChannels, cout = outChannels
        let gradProducts = 4 * cout * pairs, gradTaps = 4 * cout * cin, gradInputs = 4 * cin * pairs
        let buffer = scratch.tensor(count: gradProducts + Swift.max(gradTaps, dx == nil ? 0 : gradInputs))
        let dm = buffer, rest = buffer + gradProducts
        transposeOutputTransform(dy, pairs: pairs, into: dm, gradBias: gb)
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

    /// Calls `body(t, j)` for every pair of one sequence (`t` its first step, `j` its index),
    /// as evenly spaced runs so that the loops vectorize: one run of stride 2 for dilation 1,
    /// runs of `d` consecutive steps otherwise.
    @inline(__always)
    private func forEachPair(time: Int, _ body: (_ t: Int, _ j: Int) -> Void) {
        let d = dilation
        if d == 1 {
            for j in 0..<(time + 1) / 2 { body(2 * j, j) }
            return
        }
        var j = 0, base = 0
        while base < time {
            let count = Swift.min(d, time - base)
            for r in 0..<count { body(base + r, j + r) }
            j += count; base += 2 * d
        }
    }

    /// Runs `body(c, b, row)` for every channel and sequence with a zeroed per-thread row of
    /// `time + 4·dilation` values, channels split over the engine's threads.
    private func forEachRow(channels: Int, pairs: Int, _ body: (_ c: Int, _ b: Int, _ row: UnsafeMutablePointer<Float>) -> Void) {
        let time = shape.time, batch = shape.batch, padded = time + 4 * dilation
        Threads.parallelFor(channels, minPerThread: Swift.max(1, 8192 / Swift.max(1, pairs))) { range in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: padded)
            defer { row.deallocate() }
            row.initialize(repeating: 0, count: padded)
            for c in range { for b in 0..<batch { body(c, b, row) } }
        }
    }

    /// `D = (x₀ − x₂, x₁ + x₂, x₂ − x₁, x₁ − x₃)` per input channel and pair.
    private func transformInput(_ x: UnsafePointer<Float>, pairs: Int, into dIn: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence
        let plane = inChannels * pairs
        // The sequence at offset d of a row zero-padded on both sides: x[t + k·d − d] = row[t + k·d].
        forEachRow(channels: inChannels, pairs: pairs) { c, b, row in
            (row + d).update(from: x + (c * batch + b) * time, count: time)
            let o0 = dIn + c * pairs + b * perSequence, o1 = o0 + plane, o2 = o1 + plane, o3 = o2 + plane
            forEachPair(time: time) { t, j in
                let x0 = row[t], x1 = row[t + d], x2 = row[t + 2 * d], x3 = row[t + 3 * d]
                o0[j] = x0 - x2; o1[j] = x1 + x2; o2[j] = x2 - x1; o3[j] = x1 - x3
            }
        }
    }

    /// `y[t] = M₀ + M₁ + M₂ + b`, `y[t + d] = M₁ − M₂ − M₃ + b` (when `t + d` is in the sequence).
    private func transformOutput(_ m: UnsafePointer<Float>, pairs: Int, bias: UnsafePointer<Float>,
                                 into y: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence
        let plane = outChannels * pairs
        // Written into the row (a dropped second step lands past `time`), then copied out.
        forEachRow(channels: outChannels, pairs: pairs) { c, b, row in
            let bc = bias[c]
            let m0 = m + c * pairs + b * perSequence, m1 = m0 + plane, m2 = m1 + plane, m3 = m2 + plane
            forEachPair(time: time) { t, j in
                row[t] = m0[j] + m1[j] + m2[j] + bc
                row[t + d] = m1[j] - m2[j] - m3[j] + bc
            }
            (y + (c * batch + b) * time).update(from: row, count: time)
        }
    }

    /// The gradient of the products from the output gradient:
    /// `dM = (dy₀, dy₀ + dy₁, dy₀ − dy₁, −dy₁)`, with `dy₁ = 0` for a dropped second step;
    /// `db += Σ dy` per channel, from the same reads (`dy₀ + dy₁` summed over pairs).
    private func transposeOutputTransform(_ dy: UnsafePointer<Float>, pairs: Int, into dm: UnsafeMutablePointer<Float>,
                                          gradBias gb: UnsafeMutablePointer<Float>?) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence
        let plane = outChannels * pairs
        // The row holds dy with zeros after it (rows start zeroed; only 0..<time is written).
        forEachRow(channels: outChannels, pairs: pairs) { c, b, row in
            row.update(from: dy + (c * batch + b) * time, count: time)
            let o0 = dm + c * pairs + b * perSequence, o1 = o0 + plane, o2 = o1 + plane, o3 = o2 + plane
            forEachPair(time: time) { t, j in
                let g0 = row[t], g1 = row[t + d]
                o0[j] = g0; o1[j] = g0 + g1; o2[j] = g0 - g1; o3[j] = -g1
            }
            if let gb {
                var sum: Float = 0
                for j in 0..<perSequence { sum += o1[j] }
                gb[c] += sum
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

    /// The input gradient from `dD`, gathered per step (each written once, no conflicts):
    /// a first step `t` of pair `j` gets `dD₁ − dD₂ + dD₃` of `j` and `−dD₃` of the pair `2d`
    /// earlier (where it is that pair's `x₃`); a second step `t + d` gets `dD₁ + dD₂ − dD₀` of
    /// `j` and `dD₀` of the pair `2d` later (its `x₀`).
    private func transposeInputTransform(_ dd: UnsafePointer<Float>, pairs: Int, into dx: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence
        let plane = inChannels * pairs
        Threads.parallelFor(inChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, pairs))) { range in
            for c in range {
                for b in 0..<batch {
                    let xs = dx + (c * batch + b) * time
                    let d0 = dd + c * pairs + b * perSequence, d1 = d0 + plane, d2 = d1 + plane, d3 = d2 + plane
                    if d == 1 {
                        // Pair q covers steps 2q and 2q + 1; interior pairs need no bounds.
                        let last = perSequence - 1
                        for q in [0, last] where q >= 0 {
                            xs[2 * q] = d1[q] - d2[q] + d3[q] - (q >= 1 ? d3[q - 1] : 0)
                            if 2 * q + 1 < time { xs[2 * q + 1] = d1[q] + d2[q] - d0[q] + (q < last ? d0[q + 1] : 0) }
                        }
                        if last >= 2 {
                            for q in 1..<last {
                                xs[2 * q] = d1[q] - d2[q] + d3[q] - d3[q - 1]
                                xs[2 * q + 1] = d1[q] + d2[q] - d0[q] + d0[q + 1]
                            }
                        }
                        continue
                    }
                    var j = 0, base = 0
                    while base < time {
                        let count = Swift.min(d, time - base)
                        let first = xs + base
                        if base > 0 {
                            for r in 0..<count { first[r] = d1[j + r] - d2[j + r] + d3[j + r] - d3[j - d + r] }
                        } else {
                            for r in 0..<count { first[r] = d1[j + r] - d2[j + r] + d3[j + r] }
                        }
                        let seconds = Swift.max(0, Swift.min(d, time - base - d))
                        let withNext = Swift.max(0, Swift.min(d, time - base - 2 * d))
                        let second = xs + base + d
                        for r in 0..<withNext { second[r] = d1[j + r] + d2[j + r] - d0[j + r] + d0[j + d + r] }
                        for r in withNext..<Swift.max(withNext, seconds) { second[r] = d1[j + r] + d2[j + r] - d0[j + r] }
                        j += count; base += 2 * d
                    }
                }
            }
        }
    }
}
