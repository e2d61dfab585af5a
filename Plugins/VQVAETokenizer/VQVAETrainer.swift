import BiomechCore
import Foundation
import NumericsEngine

/// The training loop's state: network, optimizer, schedule and the two random streams
/// (window sampling, code resets). Everything needed to continue a run bit-for-bit is in
/// `checkpointTensors()` and `checkpointState()`.
public final class VQVAETrainer {
    public let configuration: VQVAEConfiguration
    public let network: VQVAENetwork
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    /// Completed optimizer steps.
    public private(set) var step = 0
    private var windowRandom: SeededRandom
    private var resetRandom: SeededRandom
    private let loss = ReconstructionLoss()
    private var dz: Tensor?
    /// The decoder output of the last `forwardBackward` (owned by the decoder).
    public private(set) var lastReconstruction: Tensor?
    /// The current batch, packed `[channels, batch · window]`.
    public let batch: Tensor

    public struct StepStats: Sendable {
        public var loss: Float
        /// MSE of the reconstruction (normalised feature units).
        public var reconstruction: Float
        public var commitment: Float
        public var velocity: Float
        public var perplexity: Double
        public var usedCodes: Int
        public var resetCodes: Int
        public var learningRate: Float
    }

    public init(configuration: VQVAEConfiguration, inputChannels: Int) {
        self.configuration = configuration
        var root = SeededRandom(seed: configuration.seed)
        network = VQVAENetwork(configuration.architecture(inputChannels: inputChannels), rng: &root)
        network.quantizer.deadCodeThreshold = Float(configuration.effectiveResetThreshold)
        network.precision = configuration.precision
        network.algorithm = configuration.convolution
        windowRandom = root.derived("vqvae.windows")
        resetRandom = root.derived("vqvae.resets")
        optimizer = AdamW(learningRate: Float(configuration.learningRate), beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0)
        schedule = LearningRateSchedule(peak: configuration.learningRate, warmupSteps: configuration.warmupSteps,
                                        totalSteps: configuration.steps,
                                        decay: configuration.lrSchedule == "cosine" ? .cosine : .constant)
        batch = Tensor(shape: [inputChannels, configuration.batchSize * configuration.window])
    }

    var batchShape: PackedShape {
        PackedShape(channels: network.architecture.inputChannels, batch: configuration.batchSize, time: configuration.window)
    }

    /// Samples the next batch: per window a trial uniformly (among those at least one window
    /// long), then a start frame uniformly.
    public func sampleBatch(from trials: [FeatureMatrix]) {
        precondition(!trials.isEmpty, "sampleBatch needs trials")
        let w = configuration.window, bsz = configuration.batchSize, c = network.architecture.inputChannels
        let n = bsz * w, dst = batch.data
        for b in 0..<bsz {
            let trial = trials[windowRandom.nextInt(below: trials.count)]
            let start = windowRandom.nextInt(below: trial.frameCount - w + 1)
            trial.values.withUnsafeBufferPointer { v in
                let src = v.baseAddress! + start * c
                for ch in 0..<c {
                    let row = dst + ch * n + b * w
                    for t in 0..<w { row[t] = src[t * c + ch] }
                }
            }
        }
    }

    /// One optimizer step on `batch`.
    @discardableResult
    public func trainStep() -> StepStats {
        var stats = forwardBackward(reset: .random)
        let lr = schedule.rate(atStep: step)
        optimizer.learningRate = lr
        optimizer.step(network.store)
        network.store.zeroGrads()
        step += 1
        stats.learningRate = lr
        return stats
    }

    /// Forward and backward on `batch`, including the EMA codebook update; gradients are
    /// accumulated into the parameters (the optimizer is not stepped).
    public func forwardBackward(reset: EMAQuantizer.ResetRows) -> StepStats {
        let s = batchShape, a = network.architecture
        let z = network.encode(batch, s)
        let zs = PackedShape(channels: a.codebookDim, batch: s.batch, time: s.time / a.downsampling)
        let q = network.quantizer
        if !q.isInitialized { q.initialize(from: z, reset, rng: &resetRandom) }
        let zq = q.quantize(z)
        let usage = q.batchUsage()
        let resets = q.emaUpdate(decay: Float(configuration.emaDecay), reset, rng: &resetRandom)
        let recon = network.decode(zq, zs)
        lastReconstruction = recon
        let (value, dRecon) = loss.forwardBackward(recon: recon, target: batch, batch: s.batch, time: s.time,
                                                   velocityWeight: Float(configuration.velocityLoss))
        let (commit, dCommit) = q.commitment(z, weight: Float(configuration.commitment))
        let dzq = network.decoderBackward(dRecon)
        // Straight-through: the decoder-input gradient goes to the encoder output unchanged.
        let g = Tensor.reuse(dz, shape: z.shape); dz = g
        Elementwise.add(dzq, dCommit, into: g)
        network.encoderBackward(g)
        let total = value.reconstruction + Float(configuration.commitment) * commit + Float(configuration.velocityLoss) * value.velocity
        return StepStats(loss: total, reconstruction: value.reconstruction, commitment: commit, velocity: value.velocity,
                         perplexity: usage.perplexity, usedCodes: usage.used, resetCodes: resets, learningRate: 0)
    }

    // MARK: Checkpoints

    /// The run's position: steps, optimizer step count and both random streams.
    public struct State: Codable, Sendable, Equatable {
        public var step: Int
        public var optimizerSteps: Int
        public var windowRandom: SeededRandom
        public var resetRandom: SeededRandom
        public var configuration: VQVAEConfiguration
        public var dataFingerprint: String
        enum CodingKeys: String, CodingKey {
            case step, optimizerSteps = "optimizer_steps", windowRandom = "window_random", resetRandom = "reset_random"
            case configuration, dataFingerprint = "data_fingerprint"
        }
    }

    public func checkpointState(dataFingerprint: String) -> State {
        State(step: step, optimizerSteps: optimizer.stepCount, windowRandom: windowRandom, resetRandom: resetRandom,
              configuration: configuration, dataFingerprint: dataFingerprint)
    }

    /// Weights, quantizer buffers and optimizer moments (`optimizer.<name>.exp_avg`, …).
    public func checkpointTensors() -> [String: Tensor] {
        var t = network.stateTensors
        for (k, v) in optimizer.stateTensors() { t["optimizer." + k] = v }
        return t
    }

    public func restore(state: State, from file: SafetensorsFile) throws {
        try network.loadState(from: file)
        var moments: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix("optimizer.") {
            moments[String(name.dropFirst("optimizer.".count))] = try file.tensor(name)
        }
        if state.optimizerSteps > 0 {
            try optimizer.loadState(moments, stepCount: state.optimizerSteps, parameters: network.store.all, file: file.path)
        }
        step = state.step
        windowRandom = state.windowRandom
        resetRandom = state.resetRandom
    }
}
