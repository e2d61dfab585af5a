import NumericsEngine

/// A kernel-3, stride-1, "same"-padded (padding = dilation) convolution over packed sequences
/// by Winograd's minimal filtering F(m, 3): `m` outputs from `m + 2` products instead of `3m`.
///
/// Outputs are taken in tiles of `m` steps `t, t + d, …, t + (m − 1)d` (d = dilation) with
/// `⌊t / d⌋` a multiple of `m`, which covers every output step once; a tile's steps past the
/// sequence end are computed and dropped. The tile's inputs are `xₖ = x[t + (k − 1)d]`,
/// `k = 0…m + 1` (0 outside the sequence), the weight taps `W₀, W₁, W₂` (`[out, in]` each).
/// F(2, 3):
///
///     D = (x₀ − x₂, x₁ + x₂, x₂ − x₁, x₁ − x₃)             input transform
///     G = (W₀, (W₀ + W₁ + W₂)/2, (W₀ − W₁ + W₂)/2, W₂)     weight transform
///     Mᵢ = Gᵢ · Dᵢ                                         four products, [out, tiles]
///     y[t] = M₀ + M₁ + M₂,  y[t + d] = M₁ − M₂ − M₃        output transform
///
/// F(4, 3) is the same with six products and Lavin and Gray's transforms (interpolation points
/// 0, ±1, ±2, ∞; written out in the functions below). Multiply-adds per output step fall from
/// `3 · in · out` to `2 · in · out` (F(2, 3)) or `1.5 · in · out` (F(4, 3)), in the forward pass
/// and in both gradients (the same products, transposed). Each call takes the tile that needs
/// fewer products for its length and dilation (`tileSize`): F(4, 3) wastes more steps at the
/// end of a sequence shorter than `4d`. The transforms' constants are small, so the result
/// differs from direct convolution by float rounding only (tested against it for both tiles).
final class WinogradKernel3 {
    let inChannels: Int, outChannels: Int, dilation: Int

    /// The transformed weight taps `G₀…G₍ₘ₊₁₎`, `[m + 2][out · in]`, kept for the input gradient.
    private var transformedWeight: Tensor?
    /// The transformed inputs `D₀…D₍ₘ₊₁₎`, `[m + 2][in · tiles]`, kept for the weight gradient.
    private var transformedInput: Tensor?
    private var shape = PackedShape(channels: 0, batch: 0, time: 0)
    /// Outputs per tile (`m`) of the last forward, and its tiles per sequence.
    private(set) var tile = 2
    private var perSequence = 0
    private var planes: Int { tile + 2 }
    /// The transforms' zero-padded per-thread rows.
    private var rows: Tensor?

    init(inChannels: Int, outChannels: Int, dilation: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.dilation = dilation
    }

    /// Calls `body(t, j)` for every tile of one sequence of `time` steps (`t` its first step,
    /// `j` its index), in order, as evenly spaced runs so that the loops vectorize: one run of
    /// stride `m` for dilation 1, runs of `d` consecutive steps (a block of `m·d`) otherwise.
    @inline(__always)
    static func forEachTile(time: Int, dilation d: Int, tile m: Int, _ body: (_ t: Int, _ j: Int) -> Void) {
        if d == 1 {
            for j in 0..<(time + m - 1) / m { body(m * j, j) }
            return
        }
        var j = 0, base = 0
        while base < time {
            let count = Swift.min(d, time - base)
            for r in 0..<count { body(base + r, j + r) }
            j += count; base += m * d
        }
    }

    /// The number of tiles `forEachTile` visits.
    static func tileCount(time: Int, dilation d: Int, tile m: Int) -> Int {
        let blocks = (time + m * d - 1) / (m * d)
        // Every block but the last holds d tiles; the last one, what is left of the sequence.
        return blocks == 0 ? 0 : (blocks - 1) * d + Swift.min(d, time - (blocks - 1) * m * d)
    }

    /// 4 when F(4, 3) needs fewer products than F(2, 3) for this length, else 2.
    static func tileSize(time: Int, dilation: Int) -> Int {
        6 * tileCount(time: time, dilation: dilation, tile: 4) < 4 * tileCount(time: time, dilation: dilation, tile: 2) ? 4 : 2
    }

    /// `y = conv(x) + bias` into `y` `[out, batch · time]`; `tile` overrides the choice (tests).
    func forward(_ x: UnsafePointer<Float>, _ s: PackedShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                 precision: ProductPrecision, scratch: PackedScratch, into y: UnsafeMutablePointer<Float>, tile forcedTile: Int? = nil) {
        shape = s
        tile = forcedTile ?? Self.tileSize(time: s.time, dilation: dilation)
        perSequence = Self.tileCount(time: s.time, dilation: dilation, tile: tile)
        let tiles = s.batch * perSequence, cin = inChannels, cout = outChannels, n = planes
        let g = Tensor.reuse(transformedWeight, shape: [n, cout * cin]); transformedWeight = g
        transformWeight(weight, into: g.data)
        let dIn = Tensor.reuse(transformedInput, shape: [n, cin * tiles]); transformedInput = dIn
        transformInput(x, tiles: tiles, into: dIn.data)
        let m = scratch.tensor(count: n * cout * tiles)
        for i in 0..<n {
            BLAS.gemm(precision: precision, m: cout, n: tiles, k: cin, a: g.data + i * cout * cin, lda: cin,
                      b: dIn.data + i * cin * tiles, ldb: tiles, beta: 0, c: m + i * cout * tiles, ldc: tiles)
        }
        transformOutput(UnsafePointer(m), tiles: tiles, bias: bias, into: y)
    }

    /// Accumulates the weight gradient `gw` (`[out, in, 3]`) and the bias gradient `gb`
    /// (summed while `dy` is read for the products) and, when `dx` is given, writes the input
    /// gradient `[in, batch · time]`.
    func backward(_ dy: UnsafePointer<Float>, gradWeight gw: UnsafeMutablePointer<Float>?, gradBias gb: UnsafeMutablePointer<Float>?,
                  precision: ProductPrecision, scratch: PackedScratch, into dx: UnsafeMutablePointer<Float>?) {
        guard let g = transformedWeight, let dIn = transformedInput else {
            preconditionFailure("WinogradKernel3.backward before forward")
        }
        let tiles = shape.batch * perSequence, cin = inChannels, cout = outChannels, n = planes
        let gradProducts = n * cout * tiles, gradTaps = n * cout * cin, gradInputs = n * cin * tiles
        let buffer = scratch.tensor(count: gradProducts + Swift.max(gradTaps, dx == nil ? 0 : gradInputs))
        let dm = buffer, rest = buffer + gradProducts
        transposeOutputTransform(dy, tiles: tiles, into: dm, gradBias: gb)
        if let gw {
            for i in 0..<n {
                BLAS.gemm(precision: precision, transB: true, m: cout, n: cin, k: tiles, a: dm + i * cout * tiles, lda: tiles,
                          b: dIn.data + i * cin * tiles, ldb: tiles, beta: 0, c: rest + i * cout * cin, ldc: cin)
            }
            accumulateWeightGradient(UnsafePointer(rest), into: gw)
        }
        guard let dx else { return }
        for i in 0..<n {
            BLAS.gemm(precision: precision, transA: true, m: cin, n: tiles, k: cout, a: g.data + i * cout * cin, lda: cin,
                      b: dm + i * cout * tiles, ldb: tiles, beta: 0, c: rest + i * cin * tiles, ldc: tiles)
        }
        transposeInputTransform(UnsafePointer(rest), tiles: tiles, into: dx)
    }

    // MARK: - Weight transforms

    /// `G` from `[out, in, 3]`: F(2, 3) `(W₀, (W₀+W₁+W₂)/2, (W₀−W₁+W₂)/2, W₂)`; F(4, 3)
    /// `(W₀/4, −(W₀+W₁+W₂)/6, −(W₀−W₁+W₂)/6, W₀/24 + W₁/12 + W₂/6, W₀/24 − W₁/12 + W₂/6, W₂)`.
    private func transformWeight(_ w: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>) {
        let count = outChannels * inChannels, four = tile == 4
        Threads.parallelFor(count, minPerThread: 16384) { range in
            for j in range {
                let w0 = w[3 * j], w1 = w[3 * j + 1], w2 = w[3 * j + 2]
                if four {
                    g[j] = w0 / 4
                    g[count + j] = -(w0 + w1 + w2) / 6
                    g[2 * count + j] = -(w0 - w1 + w2) / 6
                    g[3 * count + j] = w0 / 24 + w1 / 12 + w2 / 6
                    g[4 * count + j] = w0 / 24 - w1 / 12 + w2 / 6
                    g[5 * count + j] = w2
                } else {
                    g[j] = w0
                    g[count + j] = 0.5 * (w0 + w1 + w2)
                    g[2 * count + j] = 0.5 * (w0 - w1 + w2)
                    g[3 * count + j] = w2
                }
            }
        }
    }

    /// `dW += Gᵀ-weighted sums of dG`: the transpose of `transformWeight`.
    private func accumulateWeightGradient(_ dg: UnsafePointer<Float>, into gw: UnsafeMutablePointer<Float>) {
        let count = outChannels * inChannels, four = tile == 4
        Threads.parallelFor(count, minPerThread: 16384) { range in
            for j in range {
                let g0 = dg[j], g1 = dg[count + j], g2 = dg[2 * count + j], g3 = dg[3 * count + j]
                if four {
                    let g4 = dg[4 * count + j], g5 = dg[5 * count + j]
                    gw[3 * j] += g0 / 4 - (g1 + g2) / 6 + (g3 + g4) / 24
                    gw[3 * j + 1] += (g2 - g1) / 6 + (g3 - g4) / 12
                    gw[3 * j + 2] += (g3 + g4 - g1 - g2) / 6 + g5
                } else {
                    gw[3 * j] += g0 + 0.5 * (g1 + g2)
                    gw[3 * j + 1] += 0.5 * (g1 - g2)
                    gw[3 * j + 2] += 0.5 * (g1 + g2) + g3
                }
            }
        }
    }

    // MARK: - Input and output transforms (channels split over the engine's threads)

    @inline(__always)
    private func forEachTile(time: Int, _ body: (_ t: Int, _ j: Int) -> Void) {
        Self.forEachTile(time: time, dilation: dilation, tile: tile, body)
    }

    /// Runs `body(c, b, row)` for every channel and sequence with a per-thread row of
    /// `rowLength` values, zeroed at the start of the call (kept in `rows` between calls),
    /// channels split over the engine's threads.
    private func forEachRow(channels: Int, tiles: Int, _ body: (_ c: Int, _ b: Int, _ row: UnsafeMutablePointer<Float>) -> Void) {
        let batch = shape.batch, length = rowLength
        // Rows 128 bytes apart, so two threads never write the same cache line pair.
        let stride = (length + 31) / 32 * 32
        let parts = Threads.partCount(channels, minPerThread: Swift.max(1, 8192 / Swift.max(1, tiles)))
        let buffer = Tensor.reuse(rows, shape: [parts, stride]); rows = buffer
        let base = buffer.data
        Threads.parallelParts(channels, parts: parts) { part, range in
            let row = base + part * stride
            row.update(repeating: 0, count: length)
            for c in range { for b in 0..<batch { body(c, b, row) } }
        }
    }

    private var rowLength: Int { shape.time + (tile + 3) * dilation }

    /// `D = Bᵀ x` per input channel and tile.
    private func transformInput(_ x: UnsafePointer<Float>, tiles: Int, into dIn: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence, four = tile == 4
        let plane = inChannels * tiles
        // The sequence at offset d of a row zero-padded on both sides: xₖ = x[t + (k−1)d] = row[t + k·d].
        forEachRow(channels: inChannels, tiles: tiles) { c, b, row in
            (row + d).update(from: x + (c * batch + b) * time, count: time)
            let o0 = dIn + c * tiles + b * perSequence, o1 = o0 + plane, o2 = o1 + plane, o3 = o2 + plane
            if four {
                let o4 = o3 + plane, o5 = o4 + plane
                forEachTile(time: time) { t, j in
                    let x0 = row[t], x1 = row[t + d], x2 = row[t + 2 * d], x3 = row[t + 3 * d]
                    let x4 = row[t + 4 * d], x5 = row[t + 5 * d]
                    o0[j] = 4 * x0 - 5 * x2 + x4
                    o1[j] = x3 + x4 - 4 * (x1 + x2)
                    o2[j] = 4 * (x1 - x2) + x4 - x3
                    o3[j] = 2 * (x3 - x1) + x4 - x2
                    o4[j] = 2 * (x1 - x3) + x4 - x2
                    o5[j] = 4 * x1 - 5 * x3 + x5
                }
            } else {
                forEachTile(time: time) { t, j in
                    let x0 = row[t], x1 = row[t + d], x2 = row[t + 2 * d], x3 = row[t + 3 * d]
                    o0[j] = x0 - x2; o1[j] = x1 + x2; o2[j] = x2 - x1; o3[j] = x1 - x3
                }
            }
        }
    }

    /// `y = Aᵀ M + b`: F(2, 3) `(M₀ + M₁ + M₂, M₁ − M₂ − M₃)`; F(4, 3) `(M₀ + M₁ + M₂ + M₃ + M₄,
    /// M₁ − M₂ + 2(M₃ − M₄), M₁ + M₂ + 4(M₃ + M₄), M₁ − M₂ + 8(M₃ − M₄) + M₅)`.
    private func transformOutput(_ m: UnsafePointer<Float>, tiles: Int, bias: UnsafePointer<Float>,
                                 into y: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence, four = tile == 4
        let plane = outChannels * tiles
        // Written into the row (a dropped step lands past `time`), then copied out.
        forEachRow(channels: outChannels, tiles: tiles) { c, b, row in
            let bc = bias[c]
            let m0 = m + c * tiles + b * perSequence, m1 = m0 + plane, m2 = m1 + plane, m3 = m2 + plane
            if four {
                let m4 = m3 + plane, m5 = m4 + plane
                forEachTile(time: time) { t, j in
                    let a = m1[j] + m2[j], s = m1[j] - m2[j], p = m3[j] + m4[j], q = m3[j] - m4[j]
                    row[t] = m0[j] + a + p + bc
                    row[t + d] = s + 2 * q + bc
                    row[t + 2 * d] = a + 4 * p + bc
                    row[t + 3 * d] = s + 8 * q + m5[j] + bc
                }
            } else {
                forEachTile(time: time) { t, j in
                    row[t] = m0[j] + m1[j] + m2[j] + bc
                    row[t + d] = m1[j] - m2[j] - m3[j] + bc
                }
            }
            (y + (c * batch + b) * time).update(from: row, count: time)
        }
    }

    /// `dM = A dy` (a dropped step's `dy` is 0): F(2, 3) `(dy₀, dy₀ + dy₁, dy₀ − dy₁, −dy₁)`;
    /// F(4, 3) `(dy₀, Σdy, dy₀ − dy₁ + dy₂ − dy₃, dy₀ + 2dy₁ + 4dy₂ + 8dy₃, dy₀ − 2dy₁ + 4dy₂ − 8dy₃, dy₃)`.
    /// `dM₁` is the tile's sum of `dy` for either tile, so `db += Σ dM₁` per channel.
    private func transposeOutputTransform(_ dy: UnsafePointer<Float>, tiles: Int, into dm: UnsafeMutablePointer<Float>,
                                          gradBias gb: UnsafeMutablePointer<Float>?) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence, four = tile == 4
        let plane = outChannels * tiles
        // The row holds dy with zeros after it (rows start zeroed; only 0..<time is written).
        forEachRow(channels: outChannels, tiles: tiles) { c, b, row in
            row.update(from: dy + (c * batch + b) * time, count: time)
            let o0 = dm + c * tiles + b * perSequence, o1 = o0 + plane, o2 = o1 + plane, o3 = o2 + plane
            if four {
                let o4 = o3 + plane, o5 = o4 + plane
                forEachTile(time: time) { t, j in
                    let g0 = row[t], g1 = row[t + d], g2 = row[t + 2 * d], g3 = row[t + 3 * d]
                    let even = g0 + g2, odd = g1 + g3, even4 = g0 + 4 * g2, odd8 = 2 * g1 + 8 * g3
                    o0[j] = g0; o1[j] = even + odd; o2[j] = even - odd
                    o3[j] = even4 + odd8; o4[j] = even4 - odd8; o5[j] = g3
                }
            } else {
                forEachTile(time: time) { t, j in
                    let g0 = row[t], g1 = row[t + d]
                    o0[j] = g0; o1[j] = g0 + g1; o2[j] = g0 - g1; o3[j] = -g1
                }
            }
            if let gb {
                var sum: Float = 0
                for j in 0..<perSequence { sum += o1[j] }
                gb[c] += sum
            }
        }
    }

    /// The input gradient `dx = B dD`.
    private func transposeInputTransform(_ dd: UnsafePointer<Float>, tiles: Int, into dx: UnsafeMutablePointer<Float>) {
        if tile == 4 { transposeInputTransform4(dd, tiles: tiles, into: dx) } else { transposeInputTransform2(dd, tiles: tiles, into: dx) }
    }

    /// F(4, 3): each tile adds `(4dD₀, 4(dD₂ − dD₁) + 2(dD₄ − dD₃) + 4dD₅, −5dD₀ − 4(dD₁ + dD₂) − dD₃ − dD₄,
    /// dD₁ − dD₂ + 2(dD₃ − dD₄) − 5dD₅, dD₀ + dD₁ + dD₂ + dD₃ + dD₄, dD₅)` to its six inputs;
    /// neighbouring tiles share inputs, so each row is accumulated serially in a padded row.
    private func transposeInputTransform4(_ dd: UnsafePointer<Float>, tiles: Int, into dx: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence, length = rowLength
        let plane = inChannels * tiles
        forEachRow(channels: inChannels, tiles: tiles) { c, b, row in
            row.update(repeating: 0, count: length)
            let d0 = dd + c * tiles + b * perSequence, d1 = d0 + plane, d2 = d1 + plane, d3 = d2 + plane
            let d4 = d3 + plane, d5 = d4 + plane
            forEachTile(time: time) { t, j in
                let a0 = d0[j], a1 = d1[j], a2 = d2[j], a3 = d3[j], a4 = d4[j], a5 = d5[j]
                row[t] += 4 * a0
                row[t + d] += 4 * (a2 - a1) + 2 * (a4 - a3) + 4 * a5
                row[t + 2 * d] += -5 * a0 - 4 * (a1 + a2) - a3 - a4
                row[t + 3 * d] += a1 - a2 + 2 * (a3 - a4) - 5 * a5
                row[t + 4 * d] += a0 + a1 + a2 + a3 + a4
                row[t + 5 * d] += a5
            }
            (dx + (c * batch + b) * time).update(from: row + d, count: time)
        }
    }

    /// F(2, 3), gathered per step (each written once, no conflicts): a first step `t` of tile
    /// `j` gets `dD₁ − dD₂ + dD₃` of `j` and `−dD₃` of the tile `2d` earlier (where it is that
    /// tile's `x₃`); a second step `t + d` gets `dD₁ + dD₂ − dD₀` of `j` and `dD₀` of the tile
    /// `2d` later (its `x₀`).
    private func transposeInputTransform2(_ dd: UnsafePointer<Float>, tiles: Int, into dx: UnsafeMutablePointer<Float>) {
        let time = shape.time, batch = shape.batch, d = dilation, perSequence = self.perSequence
        let plane = inChannels * tiles
        Threads.parallelFor(inChannels, minPerThread: Swift.max(1, 8192 / Swift.max(1, tiles))) { range in
            for c in range {
                for b in 0..<batch {
                    let xs = dx + (c * batch + b) * time
                    let d0 = dd + c * tiles + b * perSequence, d1 = d0 + plane, d2 = d1 + plane, d3 = d2 + plane
                    if d == 1 {
                        // Tile q covers steps 2q and 2q + 1; interior tiles need no bounds.
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
