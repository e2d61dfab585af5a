import BiomechCore
import Foundation
import NumericsEngine

/// Every size and training setting of the `vqvae` tokenizer, as a recipe gives them
/// (snake_case keys) and as `config.json` stores them.
public struct VQVAEConfiguration: Codable, Sendable, Equatable {
    public var codebookSize = 512
    public var codebookDim = 512
    public var width = 512
    public var depth = 3
    public var dilationGrowth = 3
    /// Frames per token: 4 (the paper) or 16; any power of two from 2 to 64.
    public var downsampling = 4
    /// Training window in frames (a multiple of `downsampling`).
    public var window = 64
    public var batchSize = 32
    public var steps = 3000
    public var learningRate = 2e-4
    public var warmupSteps = 200
    /// `constant` (T2M-GPT before its first milestone) or `cosine` (decay to 0 at `steps`).
    public var lrSchedule = "cosine"
    public var commitment = 0.02
    public var emaDecay = 0.99
    /// A code whose EMA usage count (its expected uses per batch) falls below this is reset
    /// to a random encoder output of the batch. nil (`auto`): `N / (8·K)` capped at 1, with
    /// `N = batch_size · window / downsampling` encoder outputs per batch — exactly T2M-GPT's
    /// threshold of 1 at its batch (256 × 64 / 4 = 4096 outputs for 512 codes), scaled down for
    /// the smaller batches a CPU affords, where a fixed 1 would reset most codes at every step.
    public var resetThreshold: Double? = nil

    /// The threshold in effect.
    public var effectiveResetThreshold: Double {
        if let resetThreshold { return resetThreshold }
        let outputs = Double(batchSize * window / downsampling)
        return Swift.min(1, outputs / (8 * Double(codebookSize)))
    }
    /// Weight of the velocity loss (MSE of frame-to-frame differences); 0 turns it off.
    public var velocityLoss = 0.0
    public var checkpointEvery = 500
    public var seed: UInt64 = 1
    public var threads = 2
    /// The convolutions' products: float32, or bfloat16 (mixed precision, faster where the
    /// processor has AVX512-BF16).
    public var precision = ProductPrecision.float32
    /// How the kernel-3 convolutions compute: `direct` (im2col) or `winograd` (F(2, 3) or
    /// F(4, 3), a third to a half fewer multiply-adds; the same function up to float rounding).
    public var convolution = ConvolutionAlgorithm.direct

    public init() {}

    enum CodingKeys: String, CodingKey {
        case codebookSize = "codebook_size", codebookDim = "codebook_dim", width, depth
        case dilationGrowth = "dilation_growth", downsampling, window, batchSize = "batch_size", steps
        case learningRate = "learning_rate", warmupSteps = "warmup_steps", lrSchedule = "lr_schedule"
        case commitment, emaDecay = "ema_decay", resetThreshold = "reset_threshold", velocityLoss = "velocity_loss"
        case checkpointEvery = "checkpoint_every", seed, threads, precision, convolution
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = VQVAEConfiguration()
        codebookSize = try c.decodeIfPresent(Int.self, forKey: .codebookSize) ?? d.codebookSize
        codebookDim = try c.decodeIfPresent(Int.self, forKey: .codebookDim) ?? d.codebookDim
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? d.width
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
        dilationGrowth = try c.decodeIfPresent(Int.self, forKey: .dilationGrowth) ?? d.dilationGrowth
        downsampling = try c.decodeIfPresent(Int.self, forKey: .downsampling) ?? d.downsampling
        window = try c.decodeIfPresent(Int.self, forKey: .window) ?? d.window
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        lrSchedule = try c.decodeIfPresent(String.self, forKey: .lrSchedule) ?? d.lrSchedule
        commitment = try c.decodeIfPresent(Double.self, forKey: .commitment) ?? d.commitment
        emaDecay = try c.decodeIfPresent(Double.self, forKey: .emaDecay) ?? d.emaDecay
        resetThreshold = try c.decodeIfPresent(Double.self, forKey: .resetThreshold)
        velocityLoss = try c.decodeIfPresent(Double.self, forKey: .velocityLoss) ?? d.velocityLoss
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        precision = try c.decodeIfPresent(ProductPrecision.self, forKey: .precision) ?? d.precision
        convolution = try c.decodeIfPresent(ConvolutionAlgorithm.self, forKey: .convolution) ?? d.convolution
    }

    /// The recipe parameters, with defaults.
    public static let parameterSpecs: [ParameterSpec] = {
        let d = VQVAEConfiguration()
        return [
            ParameterSpec("codebook_size", "int", default: "\(d.codebookSize)", "number of codes K (motion tokens)"),
            ParameterSpec("codebook_dim", "int", default: "\(d.codebookDim)", "code vector size D"),
            ParameterSpec("width", "int", default: "\(d.width)", "convolution channels"),
            ParameterSpec("depth", "int", default: "\(d.depth)", "residual blocks per resolution"),
            ParameterSpec("dilation_growth", "int", default: "\(d.dilationGrowth)", "dilation factor between residual blocks"),
            ParameterSpec("downsampling", "int", default: "\(d.downsampling)", "frames per token: 4 (paper) or 16; a power of two"),
            ParameterSpec("window", "int", default: "\(d.window)", "training window in frames"),
            ParameterSpec("batch_size", "int", default: "\(d.batchSize)", "windows per step"),
            ParameterSpec("steps", "int", default: "\(d.steps)", "optimizer steps"),
            ParameterSpec("learning_rate", "double", default: "\(d.learningRate)", "AdamW peak learning rate (betas 0.9, 0.99; no weight decay)"),
            ParameterSpec("warmup_steps", "int", default: "\(d.warmupSteps)", "linear warm-up steps"),
            ParameterSpec("lr_schedule", "constant|cosine", default: d.lrSchedule, "learning rate after warm-up"),
            ParameterSpec("commitment", "double", default: "\(d.commitment)", "commitment loss weight"),
            ParameterSpec("ema_decay", "double", default: "\(d.emaDecay)", "EMA decay of the codebook"),
            ParameterSpec("reset_threshold", "double|auto", default: "auto",
                          "EMA usage count below which a code is reset (auto: batch outputs / (8 × codebook_size), at most 1; T2M-GPT: 1)"),
            ParameterSpec("velocity_loss", "double", default: "\(d.velocityLoss)", "velocity loss weight (0 = off)"),
            ParameterSpec("checkpoint_every", "int", default: "\(d.checkpointEvery)", "steps between checkpoints"),
            ParameterSpec("seed", "int", default: "\(d.seed)", "seed of initialisation, windows and code resets"),
            ParameterSpec("threads", "int", default: "\(d.threads)", "threads for BLAS and kernels"),
            ParameterSpec("precision", "float32|bfloat16", default: d.precision.rawValue,
                          "arithmetic of the convolutions' products; bfloat16 = mixed-precision training (docs/tokenizer.md)"),
            ParameterSpec("convolution", "direct|winograd", default: d.convolution.rawValue,
                          "algorithm of the kernel-3 convolutions; winograd = F(2, 3) or F(4, 3), a third to a half fewer multiply-adds (docs/tokenizer.md)"),
        ]
    }()

    /// Reads a recipe section (every key optional).
    public init(_ p: PluginParameters) throws {
        let d = VQVAEConfiguration()
        codebookSize = try p.positiveInt("codebook_size", default: d.codebookSize)
        codebookDim = try p.positiveInt("codebook_dim", default: d.codebookDim)
        width = try p.positiveInt("width", default: d.width)
        depth = try p.int("depth", default: d.depth)
        dilationGrowth = try p.positiveInt("dilation_growth", default: d.dilationGrowth)
        downsampling = try p.positiveInt("downsampling", default: d.downsampling)
        window = try p.positiveInt("window", default: d.window)
        batchSize = try p.positiveInt("batch_size", default: d.batchSize)
        steps = try p.positiveInt("steps", default: d.steps)
        learningRate = try p.double("learning_rate", default: d.learningRate)
        warmupSteps = try p.int("warmup_steps", default: d.warmupSteps)
        lrSchedule = try p.choice("lr_schedule", from: ["constant", "cosine"], default: d.lrSchedule)
        commitment = try p.double("commitment", default: d.commitment)
        emaDecay = try p.double("ema_decay", default: d.emaDecay)
        if let text = try p.optionalString("reset_threshold"), text != "auto" {
            guard let v = Double(text) else { throw p.error("reset_threshold", "expected a number or auto, got '\(text)'") }
            resetThreshold = v
        }
        velocityLoss = try p.double("velocity_loss", default: d.velocityLoss)
        checkpointEvery = try p.positiveInt("checkpoint_every", default: d.checkpointEvery)
        seed = try p.seed(default: d.seed)
        threads = try p.positiveInt("threads", default: d.threads)
        precision = ProductPrecision(rawValue: try p.choice("precision", from: ProductPrecision.allCases.map(\.rawValue),
                                                            default: d.precision.rawValue))!
        convolution = ConvolutionAlgorithm(rawValue: try p.choice("convolution", from: ConvolutionAlgorithm.allCases.map(\.rawValue),
                                                                  default: d.convolution.rawValue))!
        do { try validate(path: p.path) } catch let e as InputError {
            let key = e.field.map { String($0.split(separator: ".").last ?? "") } ?? ""
            throw p.error(key, e.message)
        }
    }

    public func architecture(inputChannels: Int) -> VQVAEArchitecture {
        VQVAEArchitecture(inputChannels: inputChannels, codebookSize: codebookSize, codebookDim: codebookDim, width: width,
                          depth: depth, dilationGrowth: dilationGrowth, downsampling: downsampling)
    }

    /// Throws an `InputError` naming the first unusable setting.
    public func validate(path: String = "tokenizer") throws {
        try architecture(inputChannels: 1).validate(path: path)
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw InputError(field: "\(path).\(key)", message) }
        }
        try check(window >= downsampling && window % downsampling == 0, "window",
                  "must be a positive multiple of downsampling (\(downsampling)), got \(window)")
        try check(batchSize > 0, "batch_size", "must be positive")
        try check(steps > 0, "steps", "must be positive")
        try check(learningRate > 0 && learningRate.isFinite, "learning_rate", "must be positive")
        try check(warmupSteps >= 0, "warmup_steps", "must not be negative")
        try check(["constant", "cosine"].contains(lrSchedule), "lr_schedule", "must be constant or cosine")
        try check(commitment >= 0, "commitment", "must not be negative")
        try check(emaDecay > 0 && emaDecay < 1, "ema_decay", "must be in (0, 1), got \(emaDecay)")
        try check((resetThreshold ?? 0) >= 0, "reset_threshold", "must not be negative")
        try check(velocityLoss >= 0, "velocity_loss", "must not be negative")
        try check(checkpointEvery > 0, "checkpoint_every", "must be positive")
        try check(threads > 0, "threads", "must be positive")
    }
}
