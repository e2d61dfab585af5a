import BiomechCore
import Foundation
import NumericsEngine

/// The paper's motion tokenizer: a 1-D convolutional VQ-VAE (T2M-GPT's architecture) with an
/// EMA codebook and dead-code reset, trained with the project's numerics engine.
///
/// - `train` samples windows of `window` frames from the training trials (trials shorter
///   than a window are skipped), optimises reconstruction MSE (+ velocity loss) + commitment
///   with AdamW, and checkpoints every `checkpoint_every` steps when given a directory;
///   calling it again with the same directory resumes and ends bit-identical to an
///   uninterrupted run.
/// - `encode` accepts any length ≥ 1 frame. A length that is not a multiple of
///   `downsampling` is padded at the end by repeating the last frame up to the next multiple,
///   so a trial of `T` frames gives `ceil(T / downsampling)` tokens. `decode` returns
///   `downsampling × tokens` frames; `reconstruct` trims the result back to the original length.
public final class VQVAETokenizer: Tokenizer {
    public static let descriptor = PluginDescriptor(
        id: "vqvae", kind: .tokenizer,
        summary: "1-D convolutional VQ-VAE (T2M-GPT) with EMA codebook and dead-code reset; discrete motion tokens",
        parameters: VQVAEConfiguration.parameterSpecs)

    public static func make(_ parameters: PluginParameters) throws -> VQVAETokenizer {
        VQVAETokenizer(configuration: try VQVAEConfiguration(parameters))
    }

    public private(set) var configuration: VQVAEConfiguration
    /// The trained network (nil before `train` or `load`).
    public private(set) var network: VQVAENetwork?
    public private(set) var channelNames: [String] = []
    public private(set) var observed: [Bool] = []
    public private(set) var frameRate: Double = 0
    public private(set) var trainedSteps = 0
    /// The last validation RMSE (normalised units) measured during training.
    public private(set) var validationRMSE: Double?
    /// Stops `train` after this many completed steps, as if the process were killed right
    /// after that step's checkpoint (resume tests, `tokenizer train --stop-after`).
    public var interruptAfterStep: Int?

    public init(configuration: VQVAEConfiguration = VQVAEConfiguration()) {
        self.configuration = configuration
    }

    public var kind: EncodingKind { .discrete }
    public var codebookSize: Int { configuration.codebookSize }
    public var vectorWidth: Int { 0 }
    public var framesPerStep: Int { configuration.downsampling }

    // MARK: Input checks

    /// Checks channels (names and order) and values; the error names the channel.
    public func check(_ f: FeatureMatrix, expected: [String]? = nil, what: String = "features") throws {
        let names = expected ?? channelNames
        if f.channelNames != names {
            let extra = f.channelNames.first { !names.contains($0) }
            let missing = names.first { !f.channelNames.contains($0) }
            if let missing {
                throw InputError(field: missing, "\(what) lack channel '\(missing)' (the tokenizer has \(names.count) channels, the input \(f.channelCount))")
            }
            if let extra {
                throw InputError(field: extra, "\(what) have channel '\(extra)', which the tokenizer was not trained on (it has \(names.count) channels, the input \(f.channelCount))")
            }
            let first = zip(f.channelNames, names).first { $0 != $1 }
            throw InputError(field: first?.0, "\(what) have the tokenizer's channels in a different order (channel '\(first?.0 ?? "")' where '\(first?.1 ?? "")' was expected)")
        }
        let c = f.channelCount
        if let i = f.values.firstIndex(where: { !$0.isFinite }) {
            throw InputError(field: names[i % c], "\(what): channel '\(names[i % c])' is \(f.values[i]) at frame \(i / c)")
        }
    }

    private func requireNetwork() throws -> VQVAENetwork {
        guard let network else { throw InputError("the vqvae tokenizer is not trained: train it or load a saved one") }
        return network
    }

    // MARK: Training

    static let checkpointFile = "checkpoint.safetensors"

    /// A fingerprint of the training data (channels, lengths, values), so a resumed run
    /// refuses different data.
    static func fingerprint(_ trials: [FeatureMatrix]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ x: UInt64) { h = (h ^ x) &* 0x0000_0100_0000_01B3 }
        for t in trials {
            for name in t.channelNames { for b in name.utf8 { mix(UInt64(b)) } }
            mix(UInt64(t.frameCount))
            for v in t.values { mix(UInt64(v.bitPattern)) }
        }
        let frames = trials.reduce(0) { $0 + $1.frameCount }
        return "trials=\(trials.count) frames=\(frames) fnv=\(String(h, radix: 16))"
    }

    public func train(training: [FeatureMatrix], validation: [FeatureMatrix], checkpointDirectory: URL?,
                      progress: ProgressLog) throws {
        try configuration.validate()
        guard let first = training.first else { throw InputError(field: "training", "no training trials") }
        for (i, t) in training.enumerated() { try check(t, expected: first.channelNames, what: "training trial \(i)") }
        for (i, t) in validation.enumerated() { try check(t, expected: first.channelNames, what: "validation trial \(i)") }
        let windows = training.filter { $0.frameCount >= configuration.window }
        guard !windows.isEmpty else {
            let longest = training.map(\.frameCount).max() ?? 0
            throw InputError(field: "window", "no training trial has \(configuration.window) frames (the longest has \(longest)); lower the window")
        }
        if windows.count < training.count {
            progress.note("\(training.count - windows.count) of \(training.count) training trials are shorter than the \(configuration.window)-frame window and are not sampled")
        }
        Threads.setCount(configuration.threads)
        let trainer = VQVAETrainer(configuration: configuration, inputChannels: first.channelCount)
        channelNames = first.channelNames
        observed = first.observed
        frameRate = first.frameRate
        network = trainer.network
        let fingerprint = Self.fingerprint(training)

        var timer = ContinuousClock.now
        var framesSince = 0
        if let dir = checkpointDirectory {
            let file = dir.appendingPathComponent(Self.checkpointFile)
            if FileManager.default.fileExists(atPath: file.path) {
                let st = try SafetensorsFile(path: file.path)
                guard let text = st.metadata["state"],
                      let state = try? JSONDecoder().decode(VQVAETrainer.State.self, from: Data(text.utf8)) else {
                    throw InputError(file: file.path, field: "__metadata__.state", "checkpoint has no readable training state")
                }
                var mine = configuration, theirs = state.configuration
                mine.threads = 1; theirs.threads = 1; mine.checkpointEvery = 1; theirs.checkpointEvery = 1
                guard mine == theirs else {
                    throw InputError(file: file.path, "checkpoint was written with a different configuration; use a new directory or the same settings")
                }
                guard state.dataFingerprint == fingerprint else {
                    throw InputError(file: file.path, "checkpoint was trained on different data (\(state.dataFingerprint), now \(fingerprint))")
                }
                try trainer.restore(state: state, from: st)
                progress.note("resuming from step \(state.step) (\(file.path))")
            }
        }

        let total = configuration.steps
        while trainer.step < total {
            trainer.sampleBatch(from: windows)
            let s = trainer.trainStep()
            framesSince += configuration.batchSize * configuration.window
            let now = ContinuousClock.now
            let seconds = (now - timer).inSeconds
            let fps = seconds > 0 ? Double(framesSince) / seconds : 0
            if seconds > 5 { timer = now; framesSince = 0 }
            progress.step(trainer.step, of: total, [
                ("loss", Double(s.loss)), ("rmse", Double(s.reconstruction).squareRoot()), ("commit", Double(s.commitment)),
                ("perplexity", s.perplexity), ("used", Double(s.usedCodes)), ("reset", Double(s.resetCodes)),
                ("lr", Double(s.learningRate)), ("frames_per_s", fps),
            ])
            let atCheckpoint = trainer.step % configuration.checkpointEvery == 0 || trainer.step == total
            if atCheckpoint {
                trainedSteps = trainer.step
                if !validation.isEmpty {
                    let rmse = try validationError(validation)
                    validationRMSE = rmse
                    progress.note("step \(trainer.step): validation RMSE \(String(format: "%.4f", rmse)) (normalised units)")
                }
                if let dir = checkpointDirectory { try writeCheckpoint(trainer, to: dir, fingerprint: fingerprint) }
            }
            if let stop = interruptAfterStep, trainer.step >= stop { break }
        }
        trainedSteps = trainer.step
    }

    private func writeCheckpoint(_ trainer: VQVAETrainer, to dir: URL, fingerprint: String) throws {
        let state = trainer.checkpointState(dataFingerprint: fingerprint)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(state), as: UTF8.self)
        // One file holds weights, codebook, optimizer moments and the state: a kill at any
        // moment leaves the previous checkpoint or the new one, never a mix.
        try Safetensors.write(trainer.checkpointTensors(), to: dir.appendingPathComponent(Self.checkpointFile),
                              metadata: ["state": json, "format": "biomechgpt-vqvae-checkpoint"])
        try AtomicFile.writeJSON(savedModel(), to: dir.appendingPathComponent("config.json"))
    }

    /// RMSE over (up to 64) validation trials, in normalised feature units.
    public func validationError(_ trials: [FeatureMatrix]) throws -> Double {
        var sum = 0.0, count = 0
        for t in trials.prefix(64) {
            let r = try reconstruct(t)
            for i in 0..<t.values.count { let e = Double(r.values[i] - t.values[i]); sum += e * e }
            count += t.values.count
        }
        return count > 0 ? (sum / Double(count)).squareRoot() : .nan
    }

    // MARK: Encoding

    /// Packs a trial into `[channels, paddedFrames]`, padding the end by repeating the last frame.
    private func pack(_ f: FeatureMatrix) -> (Tensor, PackedShape) {
        let c = f.channelCount, t = f.frameCount, ds = configuration.downsampling
        let padded = (t + ds - 1) / ds * ds
        let x = Tensor(shape: [c, padded])
        f.values.withUnsafeBufferPointer { v in
            let src = v.baseAddress!
            for ch in 0..<c {
                let row = x.data + ch * padded
                for i in 0..<padded { row[i] = src[Swift.min(i, t - 1) * c + ch] }
            }
        }
        return (x, PackedShape(channels: c, batch: 1, time: padded))
    }

    public func encode(_ features: FeatureMatrix) throws -> MotionEncoding {
        let network = try requireNetwork()
        network.quantizer.quantize(try encoderForward(features))
        return .tokens(network.quantizer.indices)
    }

    /// The encoder's output before quantization: `steps` rows of `codebook_dim` values, one
    /// per `downsampling` frames (the same length policy as `encode`). What the
    /// continuous-encoder baseline feeds the language model.
    public func encodeContinuous(_ features: FeatureMatrix) throws -> MotionEncoding {
        let v = try encoderVectors(features)
        return .vectors(count: v.shape[0], width: v.shape[1], values: v.scalars)
    }

    /// The encoder's output as `[steps, codebookDim]` rows, keeping what
    /// ``encoderVectorsBackward(_:)`` needs (for training the encoder with another model).
    public func encoderVectors(_ features: FeatureMatrix) throws -> Tensor {
        try encoderForward(features).transposed()
    }

    /// Accumulates encoder weight gradients from dL/d(rows of the last ``encoderVectors(_:)``).
    public func encoderVectorsBackward(_ gradient: Tensor) {
        network?.encoderBackward(gradient.transposed())
    }

    /// The encoder's output for `features`, `[codebookDim, steps]` (channel-major).
    func encoderForward(_ features: FeatureMatrix) throws -> Tensor {
        let network = try requireNetwork()
        try check(features)
        guard features.frameCount >= 1 else { throw InputError(field: "frames", "cannot encode a trial with no frames") }
        let (x, s) = pack(features)
        return network.encode(x, s)
    }

    /// The encoder's weights (`encoder.*`).
    public var encoderParameters: [Parameter] {
        network?.store.all.filter { $0.name.hasPrefix("encoder.") } ?? []
    }

    /// Decodes continuous encoder vectors (no quantization) to `downsampling × steps` frames.
    public func decodeContinuous(_ encoding: MotionEncoding, frameRate: Double) throws -> FeatureMatrix {
        let network = try requireNetwork()
        guard case .vectors(let steps, let d, let values) = encoding else {
            throw InputError(field: "encoding", "expected continuous vectors, got discrete tokens")
        }
        guard d == configuration.codebookDim, steps > 0, values.count == steps * d else {
            throw InputError(field: "encoding", "expected vectors of width \(configuration.codebookDim), got \(steps) of width \(d)")
        }
        let z = Tensor(shape: [steps, d], values: values).transposed()
        return features(fromDecoded: network.decode(z, PackedShape(channels: d, batch: 1, time: steps)), steps: steps, frameRate: frameRate)
    }

    private func features(fromDecoded y: Tensor, steps: Int, frameRate: Double) -> FeatureMatrix {
        let frames = steps * configuration.downsampling, c = channelNames.count
        var values = [Float](repeating: 0, count: frames * c)
        for ch in 0..<c { for t in 0..<frames { values[t * c + ch] = y.data[ch * frames + t] } }
        return FeatureMatrix(channelNames: channelNames, observed: observed, frameRate: frameRate, values: values)
    }

    public func decode(_ encoding: MotionEncoding, frameRate: Double) throws -> FeatureMatrix {
        let network = try requireNetwork()
        guard case .tokens(let tokens) = encoding else {
            throw InputError(field: "encoding", "the vqvae tokenizer decodes discrete tokens, not continuous vectors")
        }
        guard !tokens.isEmpty else { throw InputError(field: "encoding", "no tokens to decode") }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= codebookSize }) {
            throw InputError(field: "encoding", "token \(bad) is outside the codebook 0..<\(codebookSize)")
        }
        let z = network.quantizer.lookup(tokens)
        let y = network.decode(z, PackedShape(channels: configuration.codebookDim, batch: 1, time: tokens.count))
        return features(fromDecoded: y, steps: tokens.count, frameRate: frameRate)
    }

    /// Encode then decode, trimmed to the input's length (the reconstruction a user sees).
    public func reconstruct(_ features: FeatureMatrix) throws -> FeatureMatrix {
        let tokens = try encode(features)
        var r = try decode(tokens, frameRate: features.frameRate)
        r = r.frames(0..<features.frameCount)
        r.observed = features.observed
        return r
    }

    // MARK: Saving

    struct SavedModel: Codable {
        var format = "biomechgpt-vqvae"
        var version = 1
        var configuration: VQVAEConfiguration
        var inputChannels: Int
        var channelNames: [String]
        var observed: [Bool]
        var frameRate: Double
        var trainedSteps: Int
        var validationRMSE: Double?
        var lengthPolicy = "pad the end by repeating the last frame to a multiple of downsampling; decode gives downsampling x tokens frames"
        enum CodingKeys: String, CodingKey {
            case format, version, configuration, inputChannels = "input_channels", channelNames = "channel_names", observed
            case frameRate = "frame_rate", trainedSteps = "trained_steps", validationRMSE = "validation_rmse"
            case lengthPolicy = "length_policy"
        }
    }

    private func savedModel() -> SavedModel {
        SavedModel(configuration: configuration, inputChannels: channelNames.count, channelNames: channelNames,
                   observed: observed, frameRate: frameRate, trainedSteps: trainedSteps,
                   validationRMSE: validationRMSE.flatMap { $0.isFinite ? $0 : nil })
    }

    /// Writes `model.safetensors` (weights and codebook buffers) and `config.json`.
    public func save(to directory: URL) throws {
        let network = try requireNetwork()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Safetensors.write(network.stateTensors, to: directory.appendingPathComponent("model.safetensors"),
                              metadata: ["format": "biomechgpt-vqvae"])
        try AtomicFile.writeJSON(savedModel(), to: directory.appendingPathComponent("config.json"))
    }

    /// Reads `config.json` and `model.safetensors` (or, in a checkpoint directory,
    /// `checkpoint.safetensors`).
    public func load(from directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw InputError(file: configURL.path, "no tokenizer configuration here (expected config.json written by `tokenizer train`)")
        }
        let saved: SavedModel
        do { saved = try JSONDecoder().decode(SavedModel.self, from: data) } catch {
            throw InputError(file: configURL.path, "not a vqvae tokenizer configuration: \(error)")
        }
        guard saved.format == "biomechgpt-vqvae" else {
            throw InputError(file: configURL.path, field: "format", "expected 'biomechgpt-vqvae', got '\(saved.format)'")
        }
        try saved.configuration.validate()
        guard saved.channelNames.count == saved.inputChannels else {
            throw InputError(file: configURL.path, field: "channel_names", "lists \(saved.channelNames.count) channels, input_channels is \(saved.inputChannels)")
        }
        var weights = directory.appendingPathComponent("model.safetensors")
        if !FileManager.default.fileExists(atPath: weights.path) { weights = directory.appendingPathComponent(Self.checkpointFile) }
        var rng = SeededRandom(seed: saved.configuration.seed)
        let net = VQVAENetwork(saved.configuration.architecture(inputChannels: saved.inputChannels), rng: &rng)
        try net.loadState(from: try SafetensorsFile(path: weights.path))
        net.algorithm = saved.configuration.convolution  // encode as it was trained
        configuration = saved.configuration
        network = net
        channelNames = saved.channelNames
        observed = saved.observed
        frameRate = saved.frameRate
        trainedSteps = saved.trainedSteps
        validationRMSE = saved.validationRMSE
    }
}
