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

/// A model that generates after a prompt and then scores continuations of the same prompt
/// from what the generation computed for it: evaluation's greedy answer and its ranking of
/// the answers for one question run the prompt once.
public protocol GenerateThenScoreModel: ContinuationScoringModel {
    /// The tokens `LanguageBackbone.generate(input, options:, onToken:)` gives, then each
    /// continuation's summed negative log-likelihood (nats) after `input` (tokens and
    /// vectors) as ``continuationLosses(prefix:continuations:prefixVectors:)`` gives it, up
    /// to rounding. The errors of both calls.
    func generateThenScore(_ input: BackboneInput, options: GenerationOptions, continuations: [[Int]],
                           onToken: (Int) -> Bool) throws -> (generated: [Int], losses: [Double])
}
