import BiomechCore

/// A model whose linear projections can be looked up and replaced by name — what an
/// adapter (LoRA, QLoRA) needs from a backbone. Names are the PEFT / Hugging Face module
/// names (`model.layers.3.self_attn.q_proj`).
public protocol ProjectionHost: AnyObject {
    /// Every replaceable projection, in module order.
    var projectionNames: [String] { get }
    /// The projection called `name`, if any.
    func projection(named name: String) -> (any Projection)?
    /// Replaces a projection with a map of the same shape (e.g. a wrapper around the
    /// current one). Throws for an unknown name or a shape mismatch.
    func replaceProjection(_ name: String, with replacement: any Projection) throws
}

/// A language model that can be fine-tuned: one call runs forward, the loss and backward
/// for a batch, accumulating gradients into its trainable parameters (adapter weights,
/// trainable embedding rows); the optimizer step is the caller's.
public protocol TrainableLanguageModel: ProjectionHost {
    /// All parameters (frozen ones included), and the trainable ones.
    var parameters: [Parameter] { get }
    var trainableParameters: [Parameter] { get }
    /// Forward + mean cross-entropy over the target tokens + backward. `lossMask[b][i]`:
    /// token `i` of sequence `b` is a target (predicted from the tokens before it; token 0
    /// never is). Gradients are multiplied by `gradScale` and accumulate.
    func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float) throws -> (loss: Double, tokenCount: Int)
    /// The same mean loss without gradients.
    func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]]) throws -> (loss: Double, tokenCount: Int)
    /// Makes embedding rows (and the tied output rows) trainable, e.g. added tokens.
    func setTrainableEmbeddingRows(_ rows: Range<Int>)

    /// `trainingStep` with some input embeddings replaced by `vectors` (continuous motion
    /// encodings). Afterwards ``inputVectorGradient`` holds dL/d(vectors) (times
    /// `gradScale`), `[vectors.count, width]`. Models without vector inputs throw.
    func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float, vectors: InputVectorRows?) throws
        -> (loss: Double, tokenCount: Int)
    /// `evaluationLoss` with input vectors.
    func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> (loss: Double, tokenCount: Int)
    /// Each sequence's summed cross-entropy over its target tokens (nats) — the negative
    /// log-likelihood of those tokens — without gradients. The default scores one sequence
    /// at a time through `evaluationLoss`; a model can batch them.
    func sequenceLosses(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> [Double]
    /// dL/d(input vectors) of the last `trainingStep` that had vectors.
    var inputVectorGradient: Tensor? { get }
    /// Root mean square of the input embeddings as the first layer reads them (after any
    /// scaling), so a projection into that space can start at the same scale.
    var inputEmbeddingRMS: Float { get }
}

/// Vectors that take the place of input token embeddings in a batch: row `i` of `values`
/// replaces the embedding of token `indices[i]` of sequence `sequences[i]`. `values` is
/// `[count, width]` in the space the first layer reads.
public struct InputVectorRows {
    public var sequences: [Int]
    public var indices: [Int]
    public var values: Tensor
    public init(sequences: [Int], indices: [Int], values: Tensor) {
        precondition(sequences.count == indices.count && values.rowCount == indices.count,
                     "InputVectorRows: \(sequences.count) sequences, \(indices.count) indices, \(values.rowCount) rows")
        self.sequences = sequences; self.indices = indices; self.values = values
    }
    public var count: Int { indices.count }
}

extension TrainableLanguageModel {
    public func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float, vectors: InputVectorRows?) throws
        -> (loss: Double, tokenCount: Int) {
        guard vectors == nil || vectors!.count == 0 else { throw InputError(field: "vectors", "this model does not accept input vectors") }
        return try trainingStep(tokens: tokens, lossMask: lossMask, gradScale: gradScale)
    }
    public func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> (loss: Double, tokenCount: Int) {
        guard vectors == nil || vectors!.count == 0 else { throw InputError(field: "vectors", "this model does not accept input vectors") }
        return try evaluationLoss(tokens: tokens, lossMask: lossMask)
    }
    public func sequenceLosses(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> [Double] {
        try tokens.indices.map { b in
            var own: InputVectorRows? = nil
            if let vectors {
                let picked = vectors.sequences.indices.filter { vectors.sequences[$0] == b }
                let values = Tensor(shape: [picked.count, vectors.values.lastDimension])
                for (k, i) in picked.enumerated() {
                    (values.data + k * values.lastDimension).update(from: vectors.values.data + i * values.lastDimension,
                                                                    count: values.lastDimension)
                }
                own = InputVectorRows(sequences: picked.map { _ in 0 }, indices: picked.map { vectors.indices[$0] }, values: values)
            }
            let (loss, count) = try evaluationLoss(tokens: [tokens[b]], lossMask: [lossMask[b]], vectors: own)
            return count == 0 ? 0 : loss * Double(count)
        }
    }
    public var inputVectorGradient: Tensor? { nil }
    public var inputEmbeddingRMS: Float { 1 }
}
