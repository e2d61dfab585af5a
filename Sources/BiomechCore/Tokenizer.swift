import Foundation

/// Whether a tokenizer's encoding is discrete tokens or continuous vectors.
public enum EncodingKind: String, Sendable, Codable { case discrete, continuous }

/// Turns feature matrices into a motion encoding: the paper's discrete motion tokens
/// (VQ-VAE) or continuous vectors (the continuous-encoder baseline).
///
/// Contract:
/// - `train(training:validation:progress:)` fits the tokenizer on windows of the
///   **training split's** features; `validation` is only used for reporting. Training is
///   resumable when `checkpointDirectory` is given: calling it again continues from the
///   newest checkpoint and ends identical to an uninterrupted run.
/// - `encode` maps a feature matrix of any length ≥ 1 frame to `stepCount` steps, one per
///   `framesPerStep` frames (implementations document how a ragged end is handled);
///   `decode` maps back to features of `framesPerStep × stepCount` frames.
/// - `codebookSize` is the number of distinct tokens (0 for continuous encodings);
///   `vectorWidth` the width of continuous vectors (0 for discrete).
/// - `save(to:)` writes weights (safetensors) and configuration (JSON) to a directory;
///   `load(from:)` restores them. Both are atomic per file.
/// - Throws `InputError` for features whose channels differ from those it was trained on,
///   or NaN values, naming the channel.
public protocol Tokenizer: AnyObject {
    var kind: EncodingKind { get }
    var codebookSize: Int { get }
    var vectorWidth: Int { get }
    var framesPerStep: Int { get }
    func train(training: [FeatureMatrix], validation: [FeatureMatrix],
               checkpointDirectory: URL?, progress: ProgressLog) throws
    func encode(_ features: FeatureMatrix) throws -> MotionEncoding
    func decode(_ encoding: MotionEncoding, frameRate: Double) throws -> FeatureMatrix
    func save(to directory: URL) throws
    func load(from directory: URL) throws
}

/// How continuous motion vectors are carried into a backbone's embedding space: a linear
/// map or a two-layer MLP (linear, GELU, linear), trained together with the adapter.
public struct VectorProjectionSpec: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable { case linear, mlp }
    public var kind: Kind
    /// Hidden width of the MLP; 0 means the backbone's embedding width.
    public var hidden: Int
    public init(kind: Kind = .mlp, hidden: Int = 0) { self.kind = kind; self.hidden = hidden }
}

/// A tokenizer whose encodings are continuous vectors (`kind == .continuous`) and that says
/// how they are projected into the language model. The projection itself belongs to the
/// fine-tuning run (its output width is the backbone's), not to the tokenizer.
public protocol ContinuousMotionEncoder: Tokenizer {
    var projection: VectorProjectionSpec { get }
}
