import BiomechCore
import Foundation
import Testing
@testable import NumericsEngine
@testable import VQVAETokenizer

/// Smooth synthetic "joint angles": sums of sinusoids with per-trial phase and amplitude.
func syntheticTrials(count: Int, channels: Int = 4, frames: ClosedRange<Int> = 80...200, seed: UInt64,
                     frequencySpread: Double = 0.08) -> [FeatureMatrix] {
    var rng = SeededRandom(seed: seed)
    let names = (0..<channels).map { "joint_\($0)" }
    return (0..<count).map { _ in
        let n = frames.lowerBound + rng.nextInt(below: frames.count)
        let phase = (0..<channels).map { _ in Float(rng.nextDouble() * 6.28) }
        let amp = (0..<channels).map { _ in Float(0.5 + rng.nextDouble()) }
        let freq = Float(0.08 + frequencySpread * rng.nextDouble())
        var v = [Float](repeating: 0, count: n * channels)
        for t in 0..<n {
            for c in 0..<channels {
                let x = Float(t) * freq * Float(1 + c % 2)
                v[t * channels + c] = amp[c] * sin(x + phase[c]) + 0.3 * cos(2 * x)
            }
        }
        return FeatureMatrix(channelNames: names, frameRate: 30, values: v)
    }
}

func smallConfiguration(steps: Int = 40) -> VQVAEConfiguration {
    var c = VQVAEConfiguration()
    c.codebookSize = 64; c.codebookDim = 16; c.width = 32; c.depth = 2; c.downsampling = 4
    c.window = 32; c.batchSize = 8; c.steps = steps; c.learningRate = 2e-3; c.warmupSteps = 5
    c.checkpointEvery = max(1, steps / 2); c.seed = 3; c.threads = 2; c.velocityLoss = 0.1
    return c
}

func temporaryDirectory(_ label: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("vqvae-\(label)-\(UUID().uuidString)")
}

@Suite("vqvae tokenizer", .serialized)
struct TokenizerTests {
    @Test func shortTrainingClearlyReducesReconstructionError() throws {
        // A low-dimensional family (two channels, one frequency): what 64 codes can represent.
        let training = syntheticTrials(count: 24, channels: 2, seed: 1, frequencySpread: 0)
        let validation = syntheticTrials(count: 6, channels: 2, seed: 2, frequencySpread: 0)
        let untrained = VQVAETokenizer(configuration: smallConfiguration(steps: 1))
        untrained.interruptAfterStep = 1
        try untrained.train(training: training, validation: [], checkpointDirectory: nil, progress: .silent())
        let before = try untrained.validationError(validation)
        let tokenizer = VQVAETokenizer(configuration: smallConfiguration(steps: 250))
        try tokenizer.train(training: training, validation: validation, checkpointDirectory: nil, progress: .silent())
        let after = try tokenizer.validationError(validation)
        #expect(after < 0.4 * before, "validation RMSE \(before) → \(after)")
        #expect(tokenizer.validationRMSE == after)
    }

    @Test func resumedRunEndsBitIdenticalToUninterruptedRun() throws {
        // Bit-identity needs a fixed thread count while other suites may change it.
        try Threads.withCount(2) { try resumedRunEndsBitIdenticalToUninterruptedRunWithTwoThreads() }
    }

    func resumedRunEndsBitIdenticalToUninterruptedRunWithTwoThreads() throws {
        let training = syntheticTrials(count: 10, seed: 5)
        let config = smallConfiguration(steps: 20)  // checkpoints at 10 and 20
        let straightDir = temporaryDirectory("straight"), resumedDir = temporaryDirectory("resumed")
        defer { try? FileManager.default.removeItem(at: straightDir); try? FileManager.default.removeItem(at: resumedDir) }

        let straight = VQVAETokenizer(configuration: config)
        try straight.train(training: training, validation: [], checkpointDirectory: straightDir, progress: .silent())

        let first = VQVAETokenizer(configuration: config)
        first.interruptAfterStep = 10  // "killed" right after the step-10 checkpoint
        try first.train(training: training, validation: [], checkpointDirectory: resumedDir, progress: .silent())
        #expect(first.trainedSteps == 10)
        let second = VQVAETokenizer(configuration: config)  // a new process
        try second.train(training: training, validation: [], checkpointDirectory: resumedDir, progress: .silent())
        #expect(second.trainedSteps == 20)

        let a = try Safetensors.read(straightDir.appendingPathComponent("checkpoint.safetensors"))
        let b = try Safetensors.read(resumedDir.appendingPathComponent("checkpoint.safetensors"))
        #expect(Set(a.keys) == Set(b.keys))
        #expect(a.keys.contains { $0.hasPrefix("optimizer.") } && a.keys.contains("quantizer.codebook"))
        for (name, t) in a {
            let u = try #require(b[name])
            #expect(t.scalars.map(\.bitPattern) == u.scalars.map(\.bitPattern), "\(name) differs after resume")
        }
        let stateA = try SafetensorsFile(path: straightDir.appendingPathComponent("checkpoint.safetensors").path).metadata["state"]
        let stateB = try SafetensorsFile(path: resumedDir.appendingPathComponent("checkpoint.safetensors").path).metadata["state"]
        #expect(stateA == stateB)
    }

    @Test func resumeRefusesOtherSettingsOrData() throws {
        let training = syntheticTrials(count: 6, seed: 7)
        let dir = temporaryDirectory("refuse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = VQVAETokenizer(configuration: smallConfiguration(steps: 4))
        try t.train(training: training, validation: [], checkpointDirectory: dir, progress: .silent())
        var other = smallConfiguration(steps: 4); other.width = 16
        #expect(throws: InputError.self) {
            try VQVAETokenizer(configuration: other).train(training: training, validation: [], checkpointDirectory: dir, progress: .silent())
        }
        #expect(throws: InputError.self) {
            try VQVAETokenizer(configuration: smallConfiguration(steps: 4))
                .train(training: syntheticTrials(count: 6, seed: 8), validation: [], checkpointDirectory: dir, progress: .silent())
        }
    }

    @Test(arguments: ConvolutionAlgorithm.allCases)
    func saveLoadRoundTrip(convolution: ConvolutionAlgorithm) throws {
        let training = syntheticTrials(count: 8, seed: 9)
        var config = smallConfiguration(steps: 6)
        config.convolution = convolution
        let t = VQVAETokenizer(configuration: config)
        try t.train(training: training, validation: [], checkpointDirectory: nil, progress: .silent())
        let dir = temporaryDirectory("save")
        defer { try? FileManager.default.removeItem(at: dir) }
        try t.save(to: dir)
        let u = VQVAETokenizer()
        try u.load(from: dir)
        #expect(u.configuration == t.configuration)
        #expect(u.network?.algorithm == convolution && t.network?.algorithm == convolution)
        #expect(u.channelNames == t.channelNames && u.framesPerStep == 4 && u.codebookSize == 64 && u.trainedSteps == 6)
        for trial in training.prefix(3) {
            #expect(try u.encode(trial) == (try t.encode(trial)))
            let tokens = try t.encode(trial)
            // Other suites running in parallel change the global thread count, which changes
            // BLAS summation order in the last bits; the reloaded weights must reproduce the
            // decoded frames to float rounding.
            let a = try u.decode(tokens, frameRate: 30), b = try t.decode(tokens, frameRate: 30)
            #expect(a.channelNames == b.channelNames && a.values.count == b.values.count)
            let scale = b.values.map { abs($0) }.max() ?? 1
            let worst = zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * max(scale, 1), "decoded frames differ by \(worst)")
        }
        // A missing directory or a damaged configuration is an InputError naming the file.
        #expect(throws: InputError.self) { try VQVAETokenizer().load(from: dir.appendingPathComponent("nothing")) }
    }

    @Test func encodesAndDecodesAnyLength() throws {
        let training = syntheticTrials(count: 6, seed: 11)
        for downsampling in [4, 16] {
            var config = smallConfiguration(steps: 2); config.downsampling = downsampling
            let t = VQVAETokenizer(configuration: config)
            try t.train(training: training, validation: [], checkpointDirectory: nil, progress: .silent())
            let long = syntheticTrials(count: 1, frames: 1000...1000, seed: 12)[0]
            for n in [1, 63, 64, 65, 1000] {
                let f = long.frames(0..<n)
                guard case .tokens(let tokens) = try t.encode(f) else { Issue.record("expected tokens"); continue }
                #expect(tokens.count == (n + downsampling - 1) / downsampling, "\(n) frames, downsampling \(downsampling)")
                #expect(tokens.allSatisfy { (0..<64).contains($0) })
                let d = try t.decode(.tokens(tokens), frameRate: 30)
                #expect(d.frameCount == tokens.count * downsampling && d.channelNames == f.channelNames)
                let r = try t.reconstruct(f)
                #expect(r.frameCount == n && r.values.allSatisfy(\.isFinite))
            }
            // Padding repeats the last frame: a trial and its padded copy give the same tokens.
            let f = long.frames(0..<65)
            var padded = f
            let lastFrame = Array(f.values.suffix(f.channelCount))
            for _ in 0..<(((65 + downsampling - 1) / downsampling) * downsampling - 65) { padded.values += lastFrame }
            #expect(try t.encode(f) == (try t.encode(padded)))
        }
    }

    @Test func channelMismatchAndNaNAreInputErrorsNamingTheChannel() throws {
        let training = syntheticTrials(count: 6, seed: 13)
        let t = VQVAETokenizer(configuration: smallConfiguration(steps: 2))
        try t.train(training: training, validation: [], checkpointDirectory: nil, progress: .silent())
        let good = training[0]

        let fewer = FeatureMatrix(channelNames: Array(good.channelNames.prefix(3)), frameRate: 30,
                                  values: (0..<(3 * 40)).map { _ in 0 })
        do { _ = try t.encode(fewer); Issue.record("expected an error") } catch let e as InputError {
            #expect(e.field == "joint_3" && e.description.contains("joint_3"))
        }
        var renamed = good
        renamed.channelNames[1] = "knee_angle_r"
        do { _ = try t.encode(renamed); Issue.record("expected an error") } catch let e as InputError {
            #expect(e.description.contains("joint_1") || e.description.contains("knee_angle_r"))
        }
        var nan = good
        nan[10, 2] = .nan
        do { _ = try t.encode(nan); Issue.record("expected an error") } catch let e as InputError {
            #expect(e.field == "joint_2" && e.description.contains("frame 10"))
        }
        var badTraining = training
        badTraining[3][5, 1] = .infinity
        do {
            try VQVAETokenizer(configuration: smallConfiguration(steps: 2))
                .train(training: badTraining, validation: [], checkpointDirectory: nil, progress: .silent())
            Issue.record("expected an error")
        } catch let e as InputError {
            #expect(e.field == "joint_1" && e.description.contains("training trial 3"))
        }
        #expect(throws: InputError.self) { _ = try t.decode(.tokens([0, 64]), frameRate: 30) }
        #expect(throws: InputError.self) { _ = try VQVAETokenizer().encode(good) }
    }

    @Test func recipeParameters() throws {
        let t = try VQVAETokenizer.make(.empty)
        #expect(t.configuration == VQVAEConfiguration())
        #expect(t.codebookSize == 512 && t.framesPerStep == 4 && t.kind == .discrete && t.vectorWidth == 0)
        let u = try VQVAETokenizer.make(PluginParameters(["downsampling": "16", "codebook_size": "256", "velocity_loss": "0.5"]))
        #expect(u.framesPerStep == 16 && u.codebookSize == 256 && u.configuration.velocityLoss == 0.5)
        #expect(throws: InputError.self) { _ = try VQVAETokenizer.make(PluginParameters(["downsampling": "6"])) }
        #expect(throws: InputError.self) { _ = try VQVAETokenizer.make(PluginParameters(["window": "30"])) }
        #expect(throws: InputError.self) { _ = try VQVAETokenizer.make(PluginParameters(["lr_schedule": "step"])) }
        #expect(Set(VQVAETokenizer.descriptor.parameters.map(\.name)).isSuperset(of: [
            "codebook_size", "codebook_dim", "width", "depth", "dilation_growth", "downsampling", "window", "batch_size",
            "steps", "learning_rate", "warmup_steps", "commitment", "ema_decay", "velocity_loss", "checkpoint_every",
            "seed", "threads"]))
    }

    @Test func packedConvolutionMatchesEngineConv1d() throws {
        // An independent check of the packed layout against the engine's per-sequence Conv1d.
        var rng = SeededRandom(seed: 21)
        for (k, stride, dilation, padding, time) in [(3, 1, 9, 9, 4), (4, 2, 1, 1, 10), (1, 1, 1, 0, 7), (3, 1, 3, 3, 1)] {
            let conv = PackedConv1d(name: "c", inChannels: 3, outChannels: 5, kernelSize: k, stride: stride,
                                    dilation: dilation, padding: padding, scratch: PackedScratch(), rng: &rng)
            let ref = Conv1d(weight: Parameter(name: "w", value: conv.weight.value.clone()),
                             bias: Parameter(name: "b", value: conv.bias.value.clone()),
                             stride: stride, dilation: dilation, padding: padding)
            let batch = 3
            let x = Tensor.randomNormal(shape: [batch, 3, time], std: 1, using: &rng)
            let packed = Tensor(shape: [3, batch * time], values: ReferenceTests.pack(x))
            let y = conv.forward(packed, PackedShape(channels: 3, batch: batch, time: time))
            let yRef = ref.forward(x)
            #expect(ReferenceTests.relativeError(y.scalars, ReferenceTests.pack(yRef)) < 1e-6)
            let dy = Tensor.randomNormal(shape: yRef.shape, std: 1, using: &rng)
            let dx = conv.backward(Tensor(shape: y.shape, values: ReferenceTests.pack(dy)))!
            let dxRef = ref.backward(dy)!
            #expect(ReferenceTests.relativeError(dx.scalars, ReferenceTests.pack(dxRef)) < 1e-6)
            #expect(ReferenceTests.relativeError(conv.weight.grad!.scalars, ref.weight.grad!.scalars) < 1e-5)
            #expect(ReferenceTests.relativeError(conv.bias.grad!.scalars, ref.bias!.grad!.scalars) < 1e-5)
        }
    }

    @Test("bfloat16 products keep a convolution's output and gradients within bfloat16 rounding of float32")
    func bfloat16Convolution() throws {
        guard BLAS.hasBFloat16Products else { print("SKIP bfloat16 convolution: this processor has no AVX512-BF16"); return }
        var rng = SeededRandom(seed: 8)
        let conv = PackedConv1d(name: "c", inChannels: 48, outChannels: 40, kernelSize: 3, dilation: 3, padding: 3,
                                scratch: PackedScratch(), rng: &rng)
        let s = PackedShape(channels: 48, batch: 3, time: 40)
        let x = Tensor.randomNormal(shape: [48, s.columns], std: 1, using: &rng)
        let dy = Tensor.randomNormal(shape: [40, s.columns], std: 1, using: &rng)
        func pass() -> (y: [Float], dx: [Float], dw: [Float]) {
            conv.weight.zeroGrad(); conv.bias.zeroGrad()
            let y = conv.forward(x, s).scalars
            let dx = conv.backward(dy)!.scalars
            return (y, dx, conv.weight.grad!.scalars)
        }
        let full = pass()
        conv.precision = .bfloat16
        let mixed = pass()
        for (name, a, b) in [("output", mixed.y, full.y), ("input gradient", mixed.dx, full.dx), ("weight gradient", mixed.dw, full.dw)] {
            let e = ReferenceTests.relativeError(a, b)
            #expect(e < 1.0 / 64 && e > 0, "\(name): relative error \(e)")
        }
        var c = VQVAEConfiguration()
        c.precision = .bfloat16
        let decoded = try JSONDecoder().decode(VQVAEConfiguration.self, from: JSONEncoder().encode(c))
        #expect(decoded.precision == .bfloat16)
        #expect(try VQVAEConfiguration(PluginParameters(["precision": "bfloat16"])).precision == .bfloat16)
        #expect(throws: InputError.self) { _ = try VQVAEConfiguration(PluginParameters(["precision": "float16"])) }
    }
}
