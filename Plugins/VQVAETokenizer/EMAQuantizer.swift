import BiomechCore
import Foundation
import NumericsEngine

/// The vector quantizer with exponential-moving-average codebook updates and reset of
/// dead codes (T2M-GPT's `QuantizeEMAReset`).
///
/// - Nearest code by squared distance, `‖c‖² − 2·x·c` (+ `‖x‖²`, constant per row), with
///   one `sgemm` for all `x·c`.
/// - Training updates, after the codes of a batch are chosen (the batch itself is quantized
///   with the codebook *before* the update, as in T2M-GPT):
///   `sum ← μ·sum + (1−μ)·Σ x`, `count ← μ·count + (1−μ)·n`, and each code becomes
///   `sum/count` if `count ≥ 1`, otherwise a random encoder output of the batch (a dead code
///   is reset). With fewer encoder outputs than codes, reset rows get Gaussian noise of
///   standard deviation `0.01/√D` (T2M-GPT's `_tile`).
/// - The codebook is initialised from the first training batch's encoder outputs.
///
/// Buffers (saved with the model): `quantizer.codebook [K, D]`, `quantizer.code_sum [K, D]`,
/// `quantizer.code_count [K]`, `quantizer.initialized [1]`.
public final class EMAQuantizer {
    public let codebookSize: Int
    public let dimension: Int
    public let codebook: Tensor
    public let codeSum: Tensor
    public let codeCount: Tensor
    public private(set) var isInitialized = false
    /// A code whose EMA count falls below this is dead and reset (T2M-GPT: 1).
    public var deadCodeThreshold: Float = 1

    private var rows: Tensor?       // [N, D] encoder outputs as rows
    private var scores: Tensor?     // [N, K]
    private var quantized: Tensor?  // [D, N]
    private var gradInput: Tensor?
    private var batchSumBuffer: Tensor?
    private var codeNorms: [Float]
    public private(set) var indices: [Int] = []

    public init(codebookSize: Int, dimension: Int) {
        self.codebookSize = codebookSize; self.dimension = dimension
        codebook = Tensor(shape: [codebookSize, dimension])
        codeSum = Tensor(shape: [codebookSize, dimension])
        codeCount = Tensor(shape: [codebookSize])
        codeNorms = Array(repeating: 0, count: codebookSize)
    }

    var buffers: [String: Tensor] {
        ["quantizer.codebook": codebook, "quantizer.code_sum": codeSum, "quantizer.code_count": codeCount,
         "quantizer.initialized": Tensor(shape: [1], values: [isInitialized ? 1 : 0])]
    }

    func load(from file: SafetensorsFile) throws {
        for (name, t) in [("quantizer.codebook", codebook), ("quantizer.code_sum", codeSum), ("quantizer.code_count", codeCount)] {
            let e = try file.entry(name)
            guard e.shape == t.shape else {
                throw InputError(file: file.path, field: name, "tensor has shape \(e.shape), the model expects \(t.shape)")
            }
            try file.read(name, into: t)
        }
        isInitialized = try file.tensor("quantizer.initialized")[0] != 0
    }

    /// Sets the codebook directly (tests, reference fixtures); marks it initialised.
    public func setState(codebook c: [Float], codeSum s: [Float], codeCount n: [Float]) {
        precondition(c.count == codebook.count && s.count == codeSum.count && n.count == codeCount.count)
        codebook.copy(from: Tensor(shape: codebook.shape, values: c))
        codeSum.copy(from: Tensor(shape: codeSum.shape, values: s))
        codeCount.copy(from: Tensor(shape: codeCount.shape, values: n))
        isInitialized = true
    }

    /// Copies `z [D, N]` into rows `[N, D]`.
    private func gatherRows(_ z: Tensor, n: Int) -> Tensor {
        let r = Tensor.reuse(rows, shape: [n, dimension]); rows = r
        let src = z.data, dst = r.data, d = dimension
        Threads.parallelFor(n, minPerThread: 64) { range in
            for i in range { for j in 0..<d { dst[i * d + j] = src[j * n + i] } }
        }
        return r
    }

    /// Chooses the nearest code for every column of `z [D, N]`; returns the quantized
    /// `[D, N]` (owned; overwritten next call). `indices` holds the codes.
    @discardableResult
    public func quantize(_ z: Tensor) -> Tensor {
        precondition(z.count % dimension == 0, "EMAQuantizer: input \(z.shape) is not [\(dimension), N]")
        let n = z.count / dimension, k = codebookSize, d = dimension
        let x = gatherRows(z, n: n)
        for c in 0..<k { codeNorms[c] = BLAS.dot(codebook.data + c * d, codebook.data + c * d, count: d) }
        let s = Tensor.reuse(scores, shape: [n, k]); scores = s
        BLAS.gemm(transB: true, m: n, n: k, k: d, a: x.data, lda: d, b: codebook.data, ldb: d, beta: 0, c: s.data, ldc: k)
        if indices.count != n { indices = Array(repeating: 0, count: n) }
        let sd = s.data
        codeNorms.withUnsafeBufferPointer { norms in
            indices.withUnsafeMutableBufferPointer { idx in
                let idxp = idx.baseAddress!, cn = norms.baseAddress!
                Threads.parallelFor(n, minPerThread: 64) { range in
                    for i in range {
                        let row = sd + i * k
                        var best = 0, bestValue = Float.infinity
                        for c in 0..<k {
                            let v = cn[c] - 2 * row[c]
                            if v < bestValue { bestValue = v; best = c }
                        }
                        idxp[i] = best
                    }
                }
            }
        }
        let q = Tensor.reuse(quantized, shape: [d, n]); quantized = q
        let qd = q.data, cb = codebook.data
        indices.withUnsafeBufferPointer { idx in
            let idxp = idx.baseAddress!
            Threads.parallelFor(d, minPerThread: 8) { range in
                for j in range { for i in 0..<n { qd[j * n + i] = cb[idxp[i] * d + j] } }
            }
        }
        return q
    }

    /// The commitment loss `mean((z − q)²)` and its gradient with respect to `z`, times
    /// `weight` (owned buffer). `q` is the last `quantize` result.
    public func commitment(_ z: Tensor, weight: Float) -> (loss: Float, gradient: Tensor) {
        guard let q = quantized else { preconditionFailure("commitment before quantize") }
        let g = Tensor.reuse(gradInput, shape: z.shape); gradInput = g
        var total: Double = 0
        let zd = z.data, qd = q.data, gd = g.data, count = z.count
        let scale = 2 * weight / Float(count)
        for i in 0..<count { let e = zd[i] - qd[i]; total += Double(e * e); gd[i] = scale * e }
        return (Float(total / Double(count)), g)
    }

    /// Per-code counts of the last `quantize`.
    public func batchCounts() -> [Int] {
        var counts = Array(repeating: 0, count: codebookSize)
        for i in indices { counts[i] += 1 }
        return counts
    }

    /// Perplexity `exp(−Σ p log p)` of the codes chosen in the last `quantize`, and the
    /// number of distinct codes.
    public func batchUsage() -> (perplexity: Double, used: Int) {
        let counts = batchCounts()
        let n = Double(Swift.max(1, indices.count))
        var h = 0.0, used = 0
        for c in counts where c > 0 { let p = Double(c) / n; h -= p * log(p + 1e-7); used += 1 }
        return (exp(h), used)
    }

    /// How dead codes (and the initial codebook) get their new rows.
    public enum ResetRows {
        /// A random encoder output of the batch per code, plus Gaussian noise of standard
        /// deviation `0.01/√D` when the batch has fewer outputs than there are codes.
        case random
        /// Row `rows[k]` of the batch for code `k`, without noise (reference fixtures).
        case given([Int])
    }

    private func resetRow(_ k: Int, _ policy: ResetRows, rng: inout SeededRandom, into dst: UnsafeMutablePointer<Float>) {
        let x = rows!.data, d = dimension, n = rows!.shape[0]
        switch policy {
        case .given(let r):
            (dst).update(from: x + r[k] * d, count: d)
        case .random:
            let src = x + rng.nextInt(below: n) * d
            if n < codebookSize {
                let std = 0.01 / Double(d).squareRoot()
                for j in 0..<d { dst[j] = src[j] + Float(rng.nextGaussian() * std) }
            } else {
                dst.update(from: src, count: d)
            }
        }
    }

    /// Initialises the codebook from encoder outputs `z [D, N]`; `code_count` = the reset
    /// threshold, `code_sum = codebook · code_count`.
    public func initialize(from z: Tensor, _ policy: ResetRows, rng: inout SeededRandom) {
        let n = z.count / dimension
        _ = gatherRows(z, n: n)
        for k in 0..<codebookSize { resetRow(k, policy, rng: &rng, into: codebook.data + k * dimension) }
        // Counts start at the reset threshold (T2M-GPT: 1 and 1), so a code the first batches
        // do not use is reset at once, whatever the threshold; code_sum / code_count = codebook.
        let start = deadCodeThreshold > 0 ? deadCodeThreshold : 1
        codeCount.fill(start)
        codeSum.copy(from: codebook)
        Elementwise.scale(codeSum, by: start)
        isInitialized = true
    }

    /// One EMA update from the last `quantize` (its rows and codes). Returns the number of
    /// codes that were reset.
    @discardableResult
    public func emaUpdate(decay mu: Float, _ policy: ResetRows, rng: inout SeededRandom) -> Int {
        guard let x = rows else { preconditionFailure("emaUpdate before quantize") }
        let k = codebookSize, d = dimension, n = indices.count
        // Batch sums per code (serial over rows: deterministic).
        let batchSum = Tensor.reuse(batchSumBuffer, shape: [k, d]); batchSumBuffer = batchSum
        batchSum.zero()
        var counts = Array(repeating: Float(0), count: k)
        for i in 0..<n {
            let c = indices[i]
            counts[c] += 1
            BLAS.axpy(1, x.data + i * d, batchSum.data + c * d, count: d)
        }
        var resets = 0
        for c in 0..<k {
            let sum = codeSum.data + c * d, bs = batchSum.data + c * d
            for j in 0..<d { sum[j] = mu * sum[j] + (1 - mu) * bs[j] }
            let count = mu * codeCount.data[c] + (1 - mu) * counts[c]
            codeCount.data[c] = count
            let code = codebook.data + c * d
            if count >= deadCodeThreshold {
                for j in 0..<d { code[j] = sum[j] / count }
            } else {
                resetRow(c, policy, rng: &rng, into: code)
                resets += 1
            }
        }
        return resets
    }

    /// The codebook rows for `tokens`, as `[D, tokens.count]`.
    public func lookup(_ tokens: [Int]) -> Tensor {
        let n = tokens.count, d = dimension
        let q = Tensor(shape: [d, n])
        for (i, t) in tokens.enumerated() { for j in 0..<d { q.data[j * n + i] = codebook.data[t * d + j] } }
        return q
    }
}
