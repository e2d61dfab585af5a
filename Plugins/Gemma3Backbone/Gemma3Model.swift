import BiomechCore
import CBLAS
import CGemmaKernels
import Foundation
import GGUF
import NumericsEngine

/// Vectors that replace the input embeddings of some rows (a continuous motion encoding).
/// `rows` are flattened batch rows (``Gemma3Batch/row(sequence:index:)``); `values` is
/// `[rows.count, hidden]`, in the space of the *scaled* embeddings (what the first layer
/// reads, i.e. after the `√hidden` multiplication).
public struct Gemma3InputVectors {
    public var rows: [Int]
    public var values: Tensor
    public init(rows: [Int], values: Tensor) {
        precondition(values.count == rows.count * values.lastDimension, "input vectors: \(values.shape) for \(rows.count) rows")
        self.rows = rows; self.values = values
    }

    /// The vectors of rows in `range`, their rows counted from its start; nil when none is.
    public func rows(in range: Range<Int>) -> Gemma3InputVectors? {
        let selected = rows.enumerated().filter { range.contains($0.element) }
        guard !selected.isEmpty else { return nil }
        let d = values.lastDimension, t = Tensor(shape: [selected.count, d])
        for (i, s) in selected.enumerated() { (t.data + i * d).update(from: values.data + s.offset * d, count: d) }
        return Gemma3InputVectors(rows: selected.map { $0.element - range.lowerBound }, values: t)
    }
}

/// The Gemma 3 text model: embedding (scaled by `√hidden`), decoder layers with sandwich
/// norms, final norm, and the LM head tied to the embedding.
///
/// - ``forward(_:vectors:)`` runs a padded batch and returns the final hidden states;
///   ``logits(rows:)`` applies the LM head to chosen rows only.
/// - ``trainingStep(tokens:lossMask:gradScale:vectors:)`` = forward + chunked cross-entropy
///   over the tied embedding + backward into every trainable parameter.
/// - ``prefill(_:cache:)`` / ``decode(_:cache:)`` run with a ``Gemma3KVCache``.
/// - Projections are exposed by their PEFT names (``projectionNames``) and replaceable
///   (``replaceProjection(_:with:)``).
///
/// The model is a reference type with internal buffers: one call at a time.
public final class Gemma3Model {
    public let configuration: Gemma3Configuration
    /// `model.embed_tokens.weight`, `[vocabulary, hidden]`; also the LM head.
    public private(set) var embeddingWeight: Parameter
    private var embedding: Embedding
    public let layers: [Gemma3DecoderLayer]
    public let finalNorm: RMSNorm
    /// The number of rows of the original vocabulary (rows after it were added by
    /// ``extendVocabulary(by:initialization:seed:)``).
    public let baseVocabularySize: Int
    /// Vocabulary rows per LM-head / cross-entropy chunk.
    public var vocabularyChunk = 8192 {
        didSet { crossEntropy.chunkSize = vocabularyChunk }
    }

    private let crossEntropy = ChunkedCrossEntropy(chunkSize: 8192)
    private var residual: Tensor?
    private var gathered: Tensor?
    private var logitBuffer: Tensor?
    private var lastBatch: Gemma3Batch?
    private var lastVectorRows: [Int] = []
    /// After ``backward(gradHidden:)`` (or a training step): dL/d(input vector) for each row
    /// of the `vectors` given to the forward, `[rows, hidden]`.
    public private(set) var inputVectorGradient: Tensor?

    /// Builds the model from a weight source; `projectionBuilder` (default: frozen `Linear`s)
    /// makes each attention and MLP projection from its weight as it is loaded.
    public init(configuration c: Gemma3Configuration, weights: any Gemma3WeightSource,
                projectionBuilder: ProjectionBuilder? = nil) throws {
        try c.checkSizes()
        guard c.finalLogitSoftcapping == nil, c.attentionLogitSoftcapping == nil else {
            throw InputError(field: "final_logit_softcapping", "logit soft-capping (Gemma 2) is not supported by the Gemma 3 model")
        }
        configuration = c
        let e = try weights.tensor("model.embed_tokens.weight", shape: [c.vocabularySize, c.hiddenSize])
        embeddingWeight = Parameter(name: "model.embed_tokens.weight", value: e, isTrainable: false)
        embedding = Embedding(weight: embeddingWeight, outputScale: Self.embeddingScale(c))
        baseVocabularySize = c.vocabularySize
        let global = RotaryEmbedding(headDim: c.headDimension, base: c.ropeTheta, scalingFactor: c.ropeScalingFactor)
        let local = RotaryEmbedding(headDim: c.headDimension, base: c.ropeLocalTheta)
        layers = try (0..<c.layerCount).map {
            try Gemma3DecoderLayer(index: $0, configuration: c, weights: weights, rope: c.isGlobal(layer: $0) ? global : local,
                                   projectionBuilder: projectionBuilder)
        }
        let nw = try weights.tensor("model.norm.weight", shape: [c.hiddenSize])
        finalNorm = RMSNorm(weight: Parameter(name: "model.norm.weight", value: nw, isTrainable: false),
                            epsilon: Float(c.rmsNormEpsilon), weightOffset: weights.normWeightOffset)
        if let g = weights as? GGUFWeights, let info = try? g.file.tensor("token_embd.weight"), info.type == .q8_0,
           info.rowCount == c.vocabularySize, info.rowLength == c.hiddenSize {
            quantizedHead = QuantizedHead(file: g.file, info: info)
        }
    }

    /// The file's Q8_0 token embedding, used for single-row LM-head products (decoding):
    /// a quarter of the Float32 table's memory traffic, the same values (every Q8_0 value
    /// `d·q` is exact in Float32; only the summation order differs).
    struct QuantizedHead {
        let file: GGUFFile
        let info: GGUFTensorInfo
    }
    private var quantizedHead: QuantizedHead?
    /// Whether single-row logits use the file's Q8_0 embedding when there is one (the base
    /// rows are frozen, so it stays equal to the Float32 table; added rows use the table).
    public var usesQuantizedHead = true

    /// The embedding multiplier: `√hidden` rounded to Float32, as transformers computes it
    /// (a float32 tensor made from the Python float).
    public static func embeddingScale(_ c: Gemma3Configuration) -> Float { Float(Double(c.hiddenSize).squareRoot()) }

    public var hiddenSize: Int { configuration.hiddenSize }
    /// The current vocabulary (grows with ``extendVocabulary(by:initialization:seed:)``).
    public var vocabularySize: Int { embeddingWeight.value.shape[0] }

    // MARK: Projections

    /// Every projection's PEFT / Hugging Face module name, layer by layer in module order
    /// (`model.layers.0.self_attn.q_proj`, …, `model.layers.17.mlp.down_proj`).
    public var projectionNames: [String] {
        layers.flatMap { l in Gemma3DecoderLayer.projectionKeys.map { l.prefix + $0 } }
    }

    /// The projections by module name.
    public var projections: [String: any Projection] {
        var d: [String: any Projection] = [:]
        for l in layers { for k in Gemma3DecoderLayer.projectionKeys { d[l.prefix + k] = l.projection(k) } }
        return d
    }

    /// The projection called `name` (a ``projectionNames`` entry), if any.
    public func projection(named name: String) -> (any Projection)? {
        guard let (layer, key) = locate(name) else { return nil }
        return layer.projection(key)
    }

    /// Replaces the projection `name` with another map of the same shape (e.g. a LoRA
    /// wrapper around `projection(named: name)`). Throws for an unknown name or a shape mismatch.
    public func replaceProjection(_ name: String, with replacement: any Projection) throws {
        guard let (layer, key) = locate(name), let old = layer.projection(key) else {
            throw InputError(field: name, "no projection of that name", allowed: Array(projectionNames.prefix(7)) + ["…"])
        }
        guard replacement.inFeatures == old.inFeatures, replacement.outFeatures == old.outFeatures else {
            throw InputError(field: name, "replacement maps \(replacement.inFeatures) → \(replacement.outFeatures); " +
                             "the projection maps \(old.inFeatures) → \(old.outFeatures)")
        }
        layer.setProjection(key, replacement)
    }

    private func locate(_ name: String) -> (Gemma3DecoderLayer, String)? {
        let prefix = "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), layers.indices.contains(i) else { return nil }
        let key = String(rest[rest.index(after: dot)...])
        guard Gemma3DecoderLayer.projectionKeys.contains(key) else { return nil }
        return (layers[i], key)
    }

    // MARK: Parameters

    /// Every parameter: the embedding, then each layer's projections (including the
    /// parameters of replacement projections, e.g. LoRA A/B) and norms, then the final norm.
    public var parameters: [Parameter] {
        [embeddingWeight] + layers.flatMap(\.parameters) + [finalNorm.weight]
    }

    /// The trainable parameters (those with a gradient buffer).
    public var trainableParameters: [Parameter] { parameters.filter(\.isTrainable) }

    /// Freezes everything (the base model's default state).
    public func freezeAll() { for p in parameters { p.freeze() } }

    /// Makes the embedding rows `rows` trainable (e.g. the added motion-token rows); the
    /// tied LM head rows train with them. Other rows stay frozen.
    public func setTrainableEmbeddingRows(_ rows: Range<Int>) { embeddingWeight.setTrainableRows(rows) }

    // MARK: Vocabulary extension

    public enum NewRowInitialization: Sendable, Equatable {
        /// The mean of the existing rows plus Gaussian noise of `relativeStd` times the
        /// mean per-dimension standard deviation of the rows (the default, 0.02).
        case meanWithNoise(relativeStd: Float)
        /// The mean of the given rows for each new row (e.g. the ids of the piece's text).
        case meanOfRows([[Int]])
    }

    /// Appends `count` rows to the embedding (and so to the tied LM head) and returns
    /// their ids. The embedding parameter object is replaced (its trainability is reset to
    /// frozen); call ``setTrainableEmbeddingRows(_:)`` afterwards to train the new rows.
    @discardableResult
    public func extendVocabulary(by count: Int, initialization: NewRowInitialization = .meanWithNoise(relativeStd: 0.02),
                                 seed: UInt64 = 0) -> Range<Int> {
        let v = vocabularySize, d = hiddenSize
        let old = embeddingWeight.value
        let t = Tensor(shape: [v + count, d])
        t.data.update(from: old.data, count: v * d)
        switch initialization {
        case .meanWithNoise(let relativeStd):
            var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
            for r in 0..<v {
                let row = old.data + r * d
                for j in 0..<d { let x = Double(row[j]); mean[j] += x; sq[j] += x * x }
            }
            var stdSum = 0.0
            for j in 0..<d {
                mean[j] /= Double(v)
                stdSum += (Swift.max(0, sq[j] / Double(v) - mean[j] * mean[j])).squareRoot()
            }
            let noise = Float(stdSum / Double(d)) * relativeStd
            var rng = SeededRandom(seed: seed).derived("gemma3.new-embedding-rows")
            for i in 0..<count {
                let row = t.data + (v + i) * d
                for j in 0..<d { row[j] = Float(mean[j]) + noise * Float(rng.nextGaussian()) }
            }
        case .meanOfRows(let sources):
            precondition(sources.count == count, "extendVocabulary: \(sources.count) source lists for \(count) rows")
            for (i, ids) in sources.enumerated() {
                let row = t.data + (v + i) * d
                for j in 0..<d { row[j] = 0 }
                for id in ids {
                    precondition(id >= 0 && id < v, "extendVocabulary: source id \(id) outside 0..<\(v)")
                    BLAS.axpy(1 / Float(Swift.max(ids.count, 1)), old.data + id * d, row, count: d)
                }
            }
        }
        embeddingWeight = Parameter(name: embeddingWeight.name, value: t, isTrainable: false)
        embedding = Embedding(weight: embeddingWeight, outputScale: embedding.outputScale)
        return v..<(v + count)
    }

    // MARK: Forward

    /// Final hidden states (after the final norm) of a padded batch, `[batch · T, hidden]`.
    /// The tensor belongs to the model and is overwritten by the next call. Keeps what
    /// ``backward(gradHidden:)`` needs.
    @discardableResult
    public func forward(_ batch: Gemma3Batch, vectors: Gemma3InputVectors? = nil) -> Tensor {
        for id in batch.tokens {
            precondition(id >= 0 && id < vocabularySize, "Gemma 3: token id \(id) outside the vocabulary 0..<\(vocabularySize)")
        }
        let x = embedInputs(batch.tokens, vectors: vectors)
        lastBatch = batch
        var h = x
        for layer in layers {
            h = layer.forward(h, batch: batch.batchSize, positions: batch.positions, keyMask: batch.keyMask)
        }
        let out = finalNorm.forward(h)
        lastFinal = out
        return out
    }

    /// The scaled embeddings with vector rows substituted, in the model's residual buffer.
    private func embedInputs(_ tokens: [Int], vectors: Gemma3InputVectors?) -> Tensor {
        let e = embedding.forward(ids: tokens)
        lastVectorRows = vectors?.rows ?? []
        guard let vectors else { return e }
        let d = hiddenSize
        precondition(vectors.values.lastDimension == d, "input vectors have width \(vectors.values.lastDimension); the model's hidden size is \(d)")
        for (i, r) in vectors.rows.enumerated() {
            precondition(r >= 0 && r < tokens.count, "input vector row \(r) outside 0..<\(tokens.count)")
            (e.data + r * d).update(from: vectors.values.data + i * d, count: d)
        }
        return e
    }

    /// LM-head logits `hidden[rows] · Eᵀ`, `[rows.count, vocabulary]` (owned by the model;
    /// overwritten by the next call). `hidden` defaults to the last forward's output.
    public func logits(rows: [Int], hidden: Tensor? = nil) -> Tensor {
        let hs = hidden ?? finalNormOutput
        let d = hiddenSize, v = vocabularySize, n = rows.count
        let g = Tensor.reuse(gathered, shape: [n, d]); gathered = g
        for (i, r) in rows.enumerated() {
            precondition(r >= 0 && r < hs.rowCount, "logits: row \(r) outside 0..<\(hs.rowCount)")
            (g.data + i * d).update(from: hs.data + r * d, count: d)
        }
        let out = Tensor.reuse(logitBuffer, shape: [n, v]); logitBuffer = out
        if n == 1, usesQuantizedHead, let q = quantizedHead {
            let base = q.info.rowCount, x = g.data, y = out.data
            q.file.withRawBytes(of: q.info) { raw in
                let blocks = raw.baseAddress!
                Threads.parallelFor(base, minPerThread: 16_384) { r in
                    gemma_q8_0_matvec(blocks, Int64(r.lowerBound), Int64(r.upperBound), Int64(d), x, y + r.lowerBound)
                }
            }
            if v > base {
                Self.lmHead(hidden: x, rows: 1, table: embeddingWeight.value.data + base * d, vocabulary: v - base,
                            width: d, into: y + base)
            }
            return out
        }
        Self.lmHead(hidden: g.data, rows: n, table: embeddingWeight.value.data, vocabulary: v, width: d, into: out.data)
        return out
    }

    /// `out[n, V] = h[n, D] · E[V, D]ᵀ`, split over vocabulary ranges (a matrix–vector
    /// product for one row: no packing of the 262k-row table).
    static func lmHead(hidden h: UnsafePointer<Float>, rows n: Int, table e: UnsafePointer<Float>, vocabulary v: Int, width d: Int,
                       into out: UnsafeMutablePointer<Float>) {
        if n == 1 {
            Threads.withSerialBLAS {
                Threads.parallelFor(v, minPerThread: 16_384) { r in
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(r.count), Int32(d), 1, e + r.lowerBound * d, Int32(d),
                                h, 1, 0, out + r.lowerBound, 1)
                }
            }
        } else {
            BLAS.gemm(transB: true, m: n, n: v, k: d, a: h, lda: d, b: e, ldb: d, beta: 0, c: out, ldc: v)
        }
    }

    private var finalNormOutput: Tensor {
        guard let o = lastFinal else { preconditionFailure("Gemma3Model.logits before a forward") }
        return o
    }
    private var lastFinal: Tensor?

    /// Logits of the last position of each sequence (the next-token distributions).
    public func nextTokenLogits(_ batch: Gemma3Batch, vectors: Gemma3InputVectors? = nil) -> Tensor {
        let h = forward(batch, vectors: vectors)
        return logits(rows: batch.lastRows, hidden: h)
    }

    // MARK: Training

    /// Forward, loss and backward for a batch (right padded). `lossMask[b][i]` says
    /// whether token `i` of sequence `b` is a prediction target (the loss at position
    /// `i − 1` predicts it; token 0 is never a target). The loss is the mean over targets;
    /// gradients (times `gradScale`) accumulate into the trainable parameters — projection
    /// adapters and trainable embedding rows (tied with the LM head). No optimizer step.
    /// Throws when a sequence is longer than `maxLength`.
    public func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float = 1,
                             vectors: Gemma3InputVectors? = nil) -> (loss: Double, tokenCount: Int) {
        precondition(tokens.count == lossMask.count, "trainingStep: \(tokens.count) sequences, \(lossMask.count) masks")
        let batch = Gemma3Batch(tokens, padding: .right, padID: configuration.padTokenID)
        let targets = Self.targets(tokens, lossMask, batch)
        let h = forward(batch, vectors: vectors)
        let (loss, dh) = crossEntropy.lossAndGradient(hidden: h, weight: embeddingWeight, targets: targets, gradScale: gradScale)
        let count = crossEntropy.countedPositions
        if count > 0 { backward(gradHidden: dh) }
        return (Double(loss), count)
    }

    /// The mean loss without gradients (evaluation).
    public func loss(tokens: [[Int]], lossMask: [[Bool]], vectors: Gemma3InputVectors? = nil) -> (loss: Double, tokenCount: Int) {
        let batch = Gemma3Batch(tokens, padding: .right, padID: configuration.padTokenID)
        let h = forward(batch, vectors: vectors)
        let loss = crossEntropy.loss(hidden: h, weight: embeddingWeight.value, targets: Self.targets(tokens, lossMask, batch))
        return (Double(loss), crossEntropy.countedPositions)
    }

    /// Each sequence's summed cross-entropy over its target tokens (nats), one batched
    /// forward without gradients.
    public func sequenceLosses(tokens: [[Int]], lossMask: [[Bool]], vectors: Gemma3InputVectors? = nil) -> [Double] {
        let batch = Gemma3Batch(tokens, padding: .right, padID: configuration.padTokenID)
        let h = forward(batch, vectors: vectors)
        _ = crossEntropy.loss(hidden: h, weight: embeddingWeight.value, targets: Self.targets(tokens, lossMask, batch))
        let rowLosses = crossEntropy.rowLosses
        return tokens.enumerated().map { b, s in
            (1..<Swift.max(1, s.count)).reduce(0.0) { $0 + Double(rowLosses[batch.row(sequence: b, index: $1 - 1)]) }
        }
    }

    /// Per row of the right-padded batch: the next token where it is a target, else −1.
    private static func targets(_ tokens: [[Int]], _ lossMask: [[Bool]], _ batch: Gemma3Batch) -> [Int] {
        var targets = [Int](repeating: -1, count: batch.tokens.count)
        for (b, s) in tokens.enumerated() {
            precondition(lossMask[b].count == s.count, "sequence \(b) has \(s.count) tokens, its loss mask \(lossMask[b].count)")
            for i in 1..<Swift.max(1, s.count) where lossMask[b][i] { targets[batch.row(sequence: b, index: i - 1)] = s[i] }
        }
        return targets
    }

    /// Backward from dL/d(final hidden) of the last ``forward(_:vectors:)``: accumulates
    /// into trainable parameters, the trainable embedding rows, and sets
    /// ``inputVectorGradient`` when vectors were given.
    public func backward(gradHidden: Tensor) {
        guard lastBatch != nil else { preconditionFailure("Gemma3Model.backward before forward") }
        let g = Tensor.reuse(residual, shape: gradHidden.shape); residual = g
        g.copy(from: finalNorm.backward(gradHidden))
        for layer in layers.reversed() { layer.backward(g) }
        let d = hiddenSize
        if !lastVectorRows.isEmpty {
            let vg = Tensor.reuse(inputVectorGradient, shape: [lastVectorRows.count, d]); inputVectorGradient = vg
            for (i, r) in lastVectorRows.enumerated() {
                (vg.data + i * d).update(from: g.data + r * d, count: d)
                (g.data + r * d).update(repeating: 0, count: d)
            }
        }
        embedding.backward(g)
    }

    /// The arithmetic of the projections' multi-row forward products — prefill, evaluation
    /// and the forward of training steps (``ProductPrecision``; backward products stay
    /// float32). `float32` by default; `bfloat16` is faster and changes the logits slightly
    /// (measured in docs/gemma3.md). Applies to the dense projections as loaded.
    public var projectionPrecision: ProductPrecision {
        get { layers.first?.denseProjections.first?.productPrecision ?? .float32 }
        set { for layer in layers { for p in layer.denseProjections { p.productPrecision = newValue } } }
    }

    // MARK: Generation with a KV cache

    /// Whether one-row forwards (decoding) read the projections' quantized GGUF blocks
    /// (``GGMLRowProduct``) instead of their Float32 copies. On by default for a model
    /// loaded from GGUF with supported types; false when no projection has blocks.
    public var decodesFromQuantizedBlocks: Bool {
        get { layers.contains { $0.denseProjections.contains { $0.singleRowProduct != nil && $0.usesSingleRowProduct } } }
        set { for layer in layers { for p in layer.denseProjections { p.usesSingleRowProduct = newValue } } }
    }

    /// Runs `tokens` (the next positions of the cached sequence) through the model with
    /// the cache, in chunks of at most `cache.chunk`, and returns the final hidden state
    /// of the last token, `[1, hidden]`. `vectors` rows index `tokens`.
    @discardableResult
    public func prefill(_ tokens: [Int], cache: Gemma3KVCache, vectors: Gemma3InputVectors? = nil) -> Tensor {
        precondition(!tokens.isEmpty, "prefill: no tokens")
        precondition(cache.length + tokens.count <= cache.maxLength,
                     "KV cache: \(cache.length) + \(tokens.count) tokens exceed its length \(cache.maxLength)")
        var start = 0
        var last: Tensor!
        while start < tokens.count {
            let end = Swift.min(tokens.count, start + cache.chunk)
            let chunk = Array(tokens[start..<end])
            let positions = Array((cache.length)..<(cache.length + chunk.count))
            last = cachedForward(chunk, positions: positions, vectors: vectors?.rows(in: start..<end), cache: cache)
            cache.length += chunk.count
            start = end
        }
        let d = hiddenSize, n = last.rowCount
        let out = Tensor.reuse(lastHidden, shape: [1, d]); lastHidden = out
        out.data.update(from: last.data + (n - 1) * d, count: d)
        return out
    }
    private var lastHidden: Tensor?

    /// `tokens` at `positions` through the layers with the cache; the final-normed hidden
    /// states of every row, `[tokens.count, hidden]`. Does not advance `cache.length`.
    func cachedForward(_ tokens: [Int], positions: [Int], vectors: Gemma3InputVectors? = nil, cache: Gemma3KVCache) -> Tensor {
        var h = embedInputs(tokens, vectors: vectors)
        for (l, layer) in layers.enumerated() {
            h = layer.forward(h, batch: 1, positions: positions, keyMask: nil, cache: cache.layers[l])
        }
        lastBatch = nil
        return finalNorm.forward(h)
    }

    /// Each row's cross-entropy (nats) of `hidden` (`[n, hidden]`, final-normed) against
    /// its target token.
    func rowLosses(hidden: Tensor, targets: [Int]) -> [Float] {
        _ = crossEntropy.loss(hidden: hidden, weight: embeddingWeight.value, targets: targets)
        return Array(crossEntropy.rowLosses.prefix(targets.count))
    }

    /// One decoding step: the next token through the cache; returns the logits `[1, V]`.
    ///
    /// When the projections decode from their quantized blocks, the step's few BLAS calls
    /// (one-row attention products) run on the calling thread: OpenBLAS's own threads, once
    /// woken, spin for a while after each call and would take the cores from the kernels'
    /// threads. (With Float32 projections, threaded `sgemv` is the faster choice.)
    public func decode(_ token: Int, cache: Gemma3KVCache) -> Tensor {
        func step() -> Tensor { logits(rows: [0], hidden: prefill([token], cache: cache)) }
        return decodesFromQuantizedBlocks ? Threads.withSerialBLAS(step) : step()
    }
}
