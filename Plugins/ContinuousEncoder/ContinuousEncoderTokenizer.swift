import BiomechCore
import Foundation
import NumericsEngine
import VQVAETokenizer

/// The continuous-encoder baseline: the VQ-VAE's encoder without its quantizer. Each step
/// of `downsampling` frames becomes the encoder's `codebook_dim`-wide output vector instead
/// of the index of its nearest code; a projection (linear or 2-layer MLP, from the recipe)
/// carries the vectors into the language model's embedding space and is trained with the
/// adapter.
///
/// The encoder starts from a VQ-VAE trained exactly as the `vqvae` tokenizer trains (same
/// parameters, same seed, same windows), so a recipe that swaps `id: vqvae` for
/// `id: continuous-encoder` and changes nothing else compares the two representations of the
/// same trained encoder: quantized versus not. With `train_encoder: false` (the default) the
/// encoder stays frozen during fine-tuning; with `true` its weights are trained together with
/// the projection and the adapter (starting from the VQ-VAE's), and the fine-tuned encoder is
/// saved beside the adapter.
///
/// `decode` runs the VQ-VAE's decoder on the vectors directly (no quantization), so
/// reconstruction error can be compared with the discrete tokens'.
public final class ContinuousEncoderTokenizer: ContinuousMotionEncoder, TrainableMotionEncoder {
    public static let descriptor = PluginDescriptor(
        id: "continuous-encoder", kind: .tokenizer,
        summary: "the VQ-VAE's encoder without quantization: continuous motion vectors projected into the language model",
        parameters: VQVAEConfiguration.parameterSpecs + [
            ParameterSpec("projection", "linear|mlp", default: "mlp",
                          "map from encoder vectors to the backbone's embeddings, trained with the adapter"),
            ParameterSpec("projection_hidden", "int", default: "0", "hidden width of the MLP projection (0: the backbone's width)"),
            ParameterSpec("train_encoder", "bool", default: "false",
                          "train the encoder with the language model (from the trained VQ-VAE's weights) instead of freezing it"),
        ])

    public static func make(_ parameters: PluginParameters) throws -> ContinuousEncoderTokenizer {
        let kind = try parameters.choice("projection", from: VectorProjectionSpec.Kind.allCases.map(\.rawValue), default: "mlp")
        let hidden = try parameters.int("projection_hidden", default: 0)
        guard hidden >= 0 else { throw parameters.error("projection_hidden", "must not be negative, got \(hidden)") }
        let tokenizer = ContinuousEncoderTokenizer(configuration: try VQVAEConfiguration(parameters),
                                                   projection: VectorProjectionSpec(kind: VectorProjectionSpec.Kind(rawValue: kind)!, hidden: hidden))
        tokenizer.trainsWithLanguageModel = try parameters.bool("train_encoder", default: false)
        return tokenizer
    }

    /// The VQ-VAE whose encoder (and, for `decode`, decoder) is used.
    public let vqvae: VQVAETokenizer
    public let projection: VectorProjectionSpec
    public var trainsWithLanguageModel = false

    public init(configuration: VQVAEConfiguration = VQVAEConfiguration(), projection: VectorProjectionSpec = VectorProjectionSpec()) {
        vqvae = VQVAETokenizer(configuration: configuration)
        self.projection = projection
    }

    public var kind: EncodingKind { .continuous }
    public var codebookSize: Int { 0 }
    public var vectorWidth: Int { vqvae.configuration.codebookDim }
    public var framesPerStep: Int { vqvae.configuration.downsampling }

    public func train(training: [FeatureMatrix], validation: [FeatureMatrix], checkpointDirectory: URL?,
                      progress: ProgressLog) throws {
        try vqvae.train(training: training, validation: validation, checkpointDirectory: checkpointDirectory, progress: progress)
    }

    public func encode(_ features: FeatureMatrix) throws -> MotionEncoding { try vqvae.encodeContinuous(features) }

    public func decode(_ encoding: MotionEncoding, frameRate: Double) throws -> FeatureMatrix {
        try vqvae.decodeContinuous(encoding, frameRate: frameRate)
    }

    // MARK: Training with the language model

    public var encoderParameters: [Parameter] { vqvae.encoderParameters }

    public func encodeForTraining(_ features: FeatureMatrix) throws -> Tensor { try vqvae.encoderVectors(features) }

    public func backwardEncoder(_ gradVectors: Tensor) { vqvae.encoderVectorsBackward(gradVectors) }

    static let markerFile = "continuous_encoder.json"

    struct Marker: Codable {
        var format = "biomechgpt-continuous-encoder"
        var projection: VectorProjectionSpec
    }

    /// The VQ-VAE's files plus `continuous_encoder.json` (the projection setting).
    public func save(to directory: URL) throws {
        try vqvae.save(to: directory)
        try AtomicFile.writeJSON(Marker(projection: projection), to: directory.appendingPathComponent(Self.markerFile))
    }

    /// Loads a saved continuous encoder or any saved `vqvae` tokenizer (its encoder is used).
    public func load(from directory: URL) throws { try vqvae.load(from: directory) }
}
