import BiomechCore

/// A continuous motion encoder whose weights can be trained together with a language model
/// (the continuous-encoder baseline with `train_encoder: true`).
///
/// `encodeForTraining` keeps what `backwardEncoder` needs for that one call, so a caller
/// with several trials in a batch encodes each again right before its backward.
public protocol TrainableMotionEncoder: AnyObject {
    /// Whether the recipe asks for the encoder to be trained with the language model.
    var trainsWithLanguageModel: Bool { get }
    /// The encoder's weights, by name.
    var encoderParameters: [Parameter] { get }
    /// `[steps, width]` vectors of one trial's features.
    func encodeForTraining(_ features: FeatureMatrix) throws -> Tensor
    /// Accumulates the encoder's weight gradients from dL/d(vectors), `[steps, width]`, of
    /// the last `encodeForTraining`.
    func backwardEncoder(_ gradVectors: Tensor)
}
