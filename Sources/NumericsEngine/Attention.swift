import Foundation

/// Causal scaled-dot-product attention with grouped key/value heads, an optional
/// sliding window and an optional key padding mask.
///
/// Shapes (row-major, one row per token, batches of equal length `T`):
/// - `q`: `[batch · T, queryHeads · headDim]` (also accepted as `[batch, T, …]`),
/// - `k`, `v`: `[batch · T, kvHeads · headDim]`,
/// - output: the shape of `q`.
///
/// Query head `h` uses key/value head `h / (queryHeads / kvHeads)`. Query `i` may attend
/// to key `j` of the same sequence when `j ≤ i`, `i − j < slidingWindow` (if set) and
/// `keyMask[b·T + j]` is true (if a mask is given; false marks padding). A query with
/// no admissible key (a padding row at the start of a left-padded sequence) outputs zeros.
/// Scores are `scale · q·k` (Gemma 3: `scale = headDim^−½` or `query_pre_attn_scalar^−½`).
///
/// Implementation: per (sequence, query head), query rows are processed in blocks of
/// 64; each block multiplies only against its admissible key range (causal and window
/// limits), with `sgemm` reading heads in place through the row stride. Probabilities
/// (`[batch · queryHeads, T, T]`) are kept for backward. Heads run in parallel across
/// `Threads.count` threads with single-threaded BLAS inside.
public final class CausalAttention: @unchecked Sendable {
    public let queryHeads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let scale: Float
    public let slidingWindow: Int?
    /// Query rows per block.
    public var blockSize = 64

    private var q: Tensor?, k: Tensor?, v: Tensor?
    private var batch = 0, seqLen = 0
    private var keyMask: [UInt8] = []
    private var probabilities: Tensor?
    private var output: Tensor?
    private var scratch: Tensor?
    private var gradQ: Tensor?, gradK: Tensor?, gradV: Tensor?
    private var partialK: Tensor?, partialV: Tensor?

    public init(queryHeads: Int, kvHeads: Int, headDim: Int, scale: Float, slidingWindow: Int? = nil) {
        precondition(queryHeads % kvHeads == 0, "query heads (\(queryHeads)) must be a multiple of KV heads (\(kvHeads))")
        precondition(slidingWindow.map { $0 > 0 } ?? true, "sliding window must be positive")
        self.queryHeads = queryHeads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.scale = scale
        self.slidingWindow = slidingWindow
    }

    /// The key range a block of query rows `[r0, r1)` may see.
    @inline(__always)
    private func keyRange(_ r0: Int, _ r1: Int) -> Range<Int> {
        let lo = slidingWindow.map { Swift.max(0, r0 - $0 + 1) } ?? 0
        return lo..<r1
    }

    /// Runs `body(item)` for every (sequence, query head) item, in parallel when there are enough.
    private func forEachHead(_ body: (Int) -> Void) {
        let items = batch * queryHeads
        if items >= 2 && Threads.count > 1 {
            Threads.withSerialBLAS {
                Threads.parallelFor(items) { range in for item in range { body(item) } }
            }
        } else {
            for item in 0..<items { body(item) }
        }
    }

    /// Computes attention and keeps what backward needs. `keyMask` has one entry per token
    /// (`batch · T`), true for real tokens.
    public func forward(q: Tensor, k: Tensor, v: Tensor, batch: Int, keyMask: [Bool]? = nil) -> Tensor {
        let qw = queryHeads * headDim, kw = kvHeads * headDim
        precondition(batch > 0 && q.count % (batch * qw) == 0, "attention: q \(q.shape) is not \(batch) sequences of rows of \(qw)")
        let t = q.count / (batch * qw)
        precondition(k.count == batch * t * kw && v.count == k.count, "attention: k \(k.shape) / v \(v.shape) do not match \(batch)×\(t)×\(kw)")
        if let keyMask { precondition(keyMask.count == batch * t, "attention: key mask has \(keyMask.count) entries, expected \(batch * t)") }
        self.q = q; self.k = k; self.v = v; self.batch = batch; seqLen = t
        self.keyMask = keyMask.map { $0.map { $0 ? 1 : 0 } } ?? []
        let p = Tensor.reuse(probabilities, shape: [batch * queryHeads, t, t]); probabilities = p
        let o = Tensor.reuse(output, shape: q.shape); output = o
        let group = queryHeads / kvHeads, hd = headDim, sc = scale, window = slidingWindow, bs = blockSize
        let qs = q.data, ks = k.data, vs = v.data, ps = p.data, os = o.data
        keyMaskPointer { mask in
            forEachHead { item in
                let b = item / queryHeads, h = item % queryHeads, kvh = h / group
                let qh = qs + b * t * qw + h * hd, kh = ks + b * t * kw + kvh * hd, vh = vs + b * t * kw + kvh * hd
                let oh = os + b * t * qw + h * hd, ph = ps + item * t * t
                let maskRow = mask.map { $0 + b * t }
                var r0 = 0
                while r0 < t {
                    let r1 = Swift.min(t, r0 + bs), keys = keyRange(r0, r1)
                    let sb = ph + r0 * t + keys.lowerBound
                    BLAS.gemm(transA: false, transB: true, m: r1 - r0, n: keys.count, k: hd, alpha: sc,
                              a: qh + r0 * qw, lda: qw, b: kh + keys.lowerBound * kw, ldb: kw, beta: 0, c: sb, ldc: t)
                    for i in r0..<r1 {
                        let row = ph + i * t
                        let lo = window.map { Swift.max(keys.lowerBound, i - $0 + 1) } ?? keys.lowerBound
                        for j in keys where j < lo || j > i { row[j] = 0 }
                        if let m = maskRow { for j in lo...i where m[j] == 0 { row[j] = -.infinity } }
                        let mx = Reduce.max(row + lo, count: i - lo + 1)
                        if mx == -.infinity { for j in lo...i { row[j] = 0 }; continue }
                        FastMath.expInPlace(row + lo, count: i - lo + 1, subtracting: mx)
                        if let m = maskRow { for j in lo...i where m[j] == 0 { row[j] = 0 } }
                        let inv = 1 / Reduce.sum(row + lo, count: i - lo + 1)
                        for j in lo...i { row[j] *= inv }
                    }
                    BLAS.gemm(m: r1 - r0, n: hd, k: keys.count, a: sb, lda: t, b: vh + keys.lowerBound * kw, ldb: kw,
                              beta: 0, c: oh + r0 * qw, ldc: qw)
                    r0 = r1
                }
            }
        }
        return o
    }

    /// Returns the gradients with respect to `q`, `k` and `v` (buffers owned by the layer).
    public func backward(_ gradOutput: Tensor) -> (q: Tensor, k: Tensor, v: Tensor) {
        guard let q, let k, let v, let p = probabilities else { preconditionFailure("CausalAttention.backward before forward") }
        precondition(gradOutput.count == q.count, "attention: gradient \(gradOutput.shape) does not match q \(q.shape)")
        let t = seqLen, qw = queryHeads * headDim, kw = kvHeads * headDim, hd = headDim
        let items = batch * queryHeads, group = queryHeads / kvHeads, sc = scale, bs = blockSize
        let dq = Tensor.reuse(gradQ, shape: q.shape); gradQ = dq
        let dk = Tensor.reuse(gradK, shape: k.shape); gradK = dk
        let dv = Tensor.reuse(gradV, shape: v.shape); gradV = dv
        let s = Tensor.reuse(scratch, shape: [items, t, t]); scratch = s
        let pk = Tensor.reuse(partialK, shape: [items, t, hd]); partialK = pk
        let pv = Tensor.reuse(partialV, shape: [items, t, hd]); partialV = pv
        let qs = q.data, ks = k.data, vs = v.data, ps = p.data, dos = gradOutput.data
        let dqs = dq.data, ss = s.data, pks = pk.data, pvs = pv.data
        forEachHead { item in
            let b = item / queryHeads, h = item % queryHeads, kvh = h / group
            let qh = qs + b * t * qw + h * hd, kh = ks + b * t * kw + kvh * hd, vh = vs + b * t * kw + kvh * hd
            let doh = dos + b * t * qw + h * hd, dqh = dqs + b * t * qw + h * hd
            let ph = ps + item * t * t, sh = ss + item * t * t
            let dkh = pks + item * t * hd, dvh = pvs + item * t * hd
            dkh.update(repeating: 0, count: t * hd)
            dvh.update(repeating: 0, count: t * hd)
            var r0 = 0
            while r0 < t {
                let r1 = Swift.min(t, r0 + bs), keys = keyRange(r0, r1), m = r1 - r0, n = keys.count
                let pb = ph + r0 * t + keys.lowerBound, sb = sh + r0 * t + keys.lowerBound
                // dP = dO · Vᵀ
                BLAS.gemm(transB: true, m: m, n: n, k: hd, a: doh + r0 * qw, lda: qw,
                          b: vh + keys.lowerBound * kw, ldb: kw, beta: 0, c: sb, ldc: t)
                // dS = scale · P ⊙ (dP − Σ_j dP⊙P)
                for i in 0..<m {
                    let pr = pb + i * t, sr = sb + i * t
                    let dotp = Reduce.dot(pr, sr, count: n)
                    for j in 0..<n { sr[j] = sc * pr[j] * (sr[j] - dotp) }
                }
                // dQ = dS · K ; dK += dSᵀ · Q ; dV += Pᵀ · dO
                BLAS.gemm(m: m, n: hd, k: n, a: sb, lda: t, b: kh + keys.lowerBound * kw, ldb: kw,
                          beta: 0, c: dqh + r0 * qw, ldc: qw)
                BLAS.gemm(transA: true, m: n, n: hd, k: m, a: sb, lda: t, b: qh + r0 * qw, ldb: qw,
                          beta: 1, c: dkh + keys.lowerBound * hd, ldc: hd)
                BLAS.gemm(transA: true, m: n, n: hd, k: m, a: pb, lda: t, b: doh + r0 * qw, ldb: qw,
                          beta: 1, c: dvh + keys.lowerBound * hd, ldc: hd)
                r0 = r1
            }
        }
        // Sum the per-query-head partials into each shared KV head.
        let dks = dk.data, dvs = dv.data, heads = queryHeads, kvHeadCount = kvHeads
        Threads.parallelFor(batch * t, minPerThread: 16) { range in
            for row in range {
                let b = row / t, tt = row % t
                for kvh in 0..<kvHeadCount {
                    let dkr = dks + row * kw + kvh * hd, dvr = dvs + row * kw + kvh * hd
                    dkr.update(repeating: 0, count: hd); dvr.update(repeating: 0, count: hd)
                    for g in 0..<group {
                        let item = b * heads + kvh * group + g
                        let sk = pks + (item * t + tt) * hd, sv = pvs + (item * t + tt) * hd
                        for d in 0..<hd { dkr[d] += sk[d]; dvr[d] += sv[d] }
                    }
                }
            }
        }
        return (dq, dk, dv)
    }

    private func keyMaskPointer<R>(_ body: (UnsafePointer<UInt8>?) -> R) -> R {
        if keyMask.isEmpty { return body(nil) }
        return keyMask.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
