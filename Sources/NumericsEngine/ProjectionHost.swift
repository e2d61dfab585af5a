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
}
