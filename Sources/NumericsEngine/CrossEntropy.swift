import Foundation

/// Softmax cross-entropy over a large vocabulary through an output matrix, computed in
/// vocabulary chunks so the `[tokens, vocabulary]` logits are never materialised.
///
/// `logits = hidden · Wᵀ` with `hidden` `[tokens, D]` and `W` `[vocabulary, D]` (for
/// Gemma, the tied 262144×640 embedding table). The loss is the mean over *counted*
/// positions — those with `targets[t] >= 0` and, if given, `mask[t] == true` — of
/// `logsumexp(logits[t]) − logits[t, targets[t]]`. Uncounted rows are skipped entirely
/// (not even multiplied) and get a zero gradient.
///
/// Algorithm: counted rows are gathered; for each chunk of `chunkSize` vocabulary rows
/// one `sgemm` gives the chunk's logits, a running max/sum gives the log-normaliser
/// online, and (when gradients are wanted) `Σ_v exp(l_v − m)·W_v` is accumulated with a
/// second `sgemm`, rescaled whenever the running max grows. At the end
/// `dhidden = g·(E[W] − W[target])` with `g = gradScale / counted`. The gradient for `W`
/// (when its parameter is trainable; only `trainableRows` when set) needs the final
/// normaliser, so it takes a second pass over the chunks it covers. A frozen `W` costs
/// two products over the vocabulary; a fully trainable one four.
public final class ChunkedCrossEntropy: @unchecked Sendable {
    /// Vocabulary rows per chunk.
    public var chunkSize: Int
    /// The number of counted positions in the last call.
    public private(set) var countedPositions = 0
    /// Each row's loss in the last call (`logsumexp − target logit`), 0 for uncounted rows.
    public private(set) var rowLosses: [Float] = []

    private var gathered: Tensor?, logits: Tensor?, accum: Tensor?
    private var gradHidden: Tensor?
    private var rowMax: [Float] = [], rowSum: [Float] = []

    public init(chunkSize: Int = 4096) {
        precondition(chunkSize > 0)
        self.chunkSize = chunkSize
    }

    /// The mean loss only (evaluation): no gradients.
    public func loss(hidden: Tensor, weight: Tensor, targets: [Int], mask: [Bool]? = nil) -> Float {
        run(hidden: hidden, weight: weight, weightParameter: nil, targets: targets, mask: mask,
            wantGradient: false, gradScale: 1).loss
    }

    /// The mean loss and its gradients: returns the gradient with respect to `hidden`
    /// (a buffer owned by this object, shape of `hidden`) and accumulates into
    /// `weight.grad` when the parameter is trainable. `gradScale` multiplies all
    /// gradients (e.g. `1 / microBatches` for gradient accumulation).
    public func lossAndGradient(hidden: Tensor, weight: Parameter, targets: [Int], mask: [Bool]? = nil,
                                gradScale: Float = 1) -> (loss: Float, gradHidden: Tensor) {
        let r = run(hidden: hidden, weight: weight.value, weightParameter: weight, targets: targets, mask: mask,
                    wantGradient: true, gradScale: gradScale)
        return (r.loss, r.grad!)
    }

    private func run(hidden: Tensor, weight: Tensor, weightParameter: Parameter?, targets: [Int], mask: [Bool]?,
                     wantGradient: Bool, gradScale: Float) -> (loss: Float, grad: Tensor?) {
        let d = hidden.lastDimension, n = hidden.rowCount
        precondition(weight.rank == 2 && weight.shape[1] == d, "cross-entropy: weight \(weight.shape) does not match hidden \(hidden.shape)")
        precondition(targets.count == n, "cross-entropy: \(targets.count) targets for \(n) rows")
        if let mask { precondition(mask.count == n, "cross-entropy: mask has \(mask.count) entries for \(n) rows") }
        let vocab = weight.shape[0]
        var rows: [Int] = []
        for t in 0..<n where targets[t] >= 0 && (mask?[t] ?? true) {
            precondition(targets[t] < vocab, "cross-entropy: target \(targets[t]) outside 0..<\(vocab)")
            rows.append(t)
        }
        let na = rows.count
        countedPositions = na
        rowLosses.removeAll(keepingCapacity: true)  // reused: this runs every training step
        rowLosses.append(contentsOf: repeatElement(0, count: n))
        var dh: Tensor? = nil
        if wantGradient {
            let g = Tensor.reuse(gradHidden, shape: hidden.shape); gradHidden = g; g.zero(); dh = g
        }
        if na == 0 { return (0, dh) }

        let h = Tensor.reuse(gathered, shape: [na, d]); gathered = h
        for (i, t) in rows.enumerated() { (h.data + i * d).update(from: hidden.data + t * d, count: d) }
        let cs = Swift.min(chunkSize, vocab)
        let l = Tensor.reuse(logits, shape: [na, cs]); logits = l
        let acc = Tensor.reuse(accum, shape: [na, d]); accum = acc
        acc.zero()
        rowMax = [Float](repeating: -.infinity, count: na)
        rowSum = [Float](repeating: 0, count: na)
        let w = weight.data, hs = h.data, ls = l.data, accs = acc.data

        rowMax.withUnsafeMutableBufferPointer { mb in
            rowSum.withUnsafeMutableBufferPointer { sb in
                let mp = mb.baseAddress!, sp = sb.baseAddress!
                var c0 = 0
                while c0 < vocab {
                    let cn = Swift.min(cs, vocab - c0)
                    BLAS.gemm(transB: true, m: na, n: cn, k: d, a: hs, lda: d, b: w + c0 * d, ldb: d, beta: 0, c: ls, ldc: cn)
                    Threads.parallelFor(na, minPerThread: 4) { range in
                        for r in range {
                            let row = ls + r * cn
                            let mNew = Swift.max(mp[r], Reduce.max(row, count: cn))
                            let rescale = mp[r] == -.infinity ? 0 : FastMath.exp(mp[r] - mNew)
                            FastMath.expInPlace(row, count: cn, subtracting: mNew)
                            sp[r] = sp[r] * rescale + Reduce.sum(row, count: cn)
                            mp[r] = mNew
                            if wantGradient && rescale != 1 {
                                let ar = accs + r * d
                                for j in 0..<d { ar[j] *= rescale }
                            }
                        }
                    }
                    if wantGradient {
                        BLAS.gemm(m: na, n: d, k: cn, a: ls, lda: cn, b: w + c0 * d, ldb: d, beta: 1, c: accs, ldc: d)
                    }
                    c0 += cn
                }
            }
        }

        // Loss and hidden gradient.
        var total: Double = 0
        var lse = [Float](repeating: 0, count: na)
        let g = gradScale / Float(na)
        for (i, t) in rows.enumerated() {
            let target = targets[t]
            let wt = w + target * d
            let targetLogit = BLAS.dot(hs + i * d, wt, count: d)
            lse[i] = rowMax[i] + logf(rowSum[i])
            rowLosses[t] = lse[i] - targetLogit
            total += Double(rowLosses[t])
            if let dh {
                let out = dh.data + t * d, ar = accs + i * d, inv = 1 / rowSum[i]
                for j in 0..<d { out[j] = g * (ar[j] * inv - wt[j]) }
            }
        }

        // Weight gradient: a second pass over the covered chunks with the final normaliser.
        if wantGradient, let p = weightParameter, let gw = p.grad {
            let covered = p.trainableRows ?? 0..<vocab
            var c0 = covered.lowerBound
            while c0 < covered.upperBound {
                let cn = Swift.min(cs, covered.upperBound - c0)
                BLAS.gemm(transB: true, m: na, n: cn, k: d, a: hs, lda: d, b: w + c0 * d, ldb: d, beta: 0, c: ls, ldc: cn)
                lse.withUnsafeBufferPointer { lb in
                    let lp = lb.baseAddress!
                    Threads.parallelFor(na, minPerThread: 4) { range in
                        for r in range {
                            let row = ls + r * cn
                            FastMath.expInPlace(row, count: cn, subtracting: lp[r])
                            for j in 0..<cn { row[j] *= g }
                        }
                    }
                }
                for (i, t) in rows.enumerated() where (c0..<(c0 + cn)).contains(targets[t]) {
                    ls[i * cn + targets[t] - c0] -= g
                }
                BLAS.gemm(transA: true, m: cn, n: d, k: na, a: ls, lda: cn, b: hs, ldb: d,
                          beta: 1, c: gw.data + (c0 - covered.lowerBound) * d, ldc: d)
                c0 += cn
            }
        }
        return (Float(total / Double(na)), dh)
    }
}
