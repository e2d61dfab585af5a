import BiomechCore

/// A language model that scores several continuations of one prefix computing the prefix
/// once (answer candidates after a question). Callers that find it use it instead of
/// ``TrainableLanguageModel/sequenceLosses(tokens:lossMask:vectors:)`` over
/// prefix + continuation sequences, which recomputes the prefix for every candidate.
public protocol ContinuationScoringModel: AnyObject {
    /// Each continuation's summed negative log-likelihood (nats) given `prefix`.
    /// `prefixVectors` replace input embeddings of the prefix (sequence 0, indices into
    /// `prefix`). Throws for an empty prefix or continuation, token ids outside the
    /// vocabulary, or a prefix plus continuation longer than the context.
    func continuationLosses(prefix: [Int], continuations: [[Int]], prefixVectors: InputVectorRows?) throws -> [Double]
}
