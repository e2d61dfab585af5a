import BiomechCore
import Foundation
import GradientChecking
import Testing
@testable import ContinuousEncoder
@testable import NumericsEngine
@testable import VQVAETokenizer

@Suite("continuous-encoder tokenizer", .serialized)
struct ContinuousEncoderTests {
    func trained() throws -> ContinuousEncoderTokenizer {
        let t = ContinuousEncoderTokenizer(configuration: smallConfiguration(steps: 20), projection: .init(kind: .linear))
        try t.train(training: syntheticTrials(count: 8, seed: 3), validation: [], checkpointDirectory: nil, progress: .silent())
        return t
    }

    @Test func vectorsAreTheEncoderOutputThatTheQuantizerWouldRound() throws {
        let t = try trained()
        #expect(t.kind == .continuous && t.codebookSize == 0 && t.vectorWidth == 16 && t.framesPerStep == 4)
        for frames in [1, 7, 8, 33] {
            let trial = syntheticTrials(count: 1, frames: frames...frames, seed: 11)[0]
            guard case .vectors(let count, let width, let values) = try t.encode(trial) else {
                Issue.record("expected vectors"); return
            }
            #expect(count == (frames + 3) / 4 && width == 16 && values.count == count * width)
            // Nearest codes of the continuous vectors are the discrete tokenizer's tokens.
            let z = Tensor(shape: [width, count])
            for c in 0..<width { for s in 0..<count { z.data[c * count + s] = values[s * width + c] } }
            let network = try #require(t.vqvae.network)
            network.quantizer.quantize(z)
            #expect(.tokens(network.quantizer.indices) == (try t.vqvae.encode(trial)))
            // The decoder reads the vectors directly: 4 frames per step.
            let decoded = try t.decode(.vectors(count: count, width: width, values: values), frameRate: 30)
            #expect(decoded.frameCount == 4 * count && decoded.channelNames == trial.channelNames)
        }
        #expect(throws: InputError.self) { try t.decode(.tokens([1]), frameRate: 30) }
        #expect(throws: InputError.self) { try t.decode(.vectors(count: 1, width: 3, values: [0, 0, 0]), frameRate: 30) }
    }

    @Test func unquantizedReconstructionIsNoWorseThanTheTokens() throws {
        let t = try trained()
        var continuous = 0.0, discrete = 0.0
        for trial in syntheticTrials(count: 4, seed: 21) {
            let v = try t.decode(t.encode(trial), frameRate: 30).frames(0..<trial.frameCount)
            let d = try t.vqvae.reconstruct(trial)
            for i in 0..<trial.values.count {
                continuous += Double((v.values[i] - trial.values[i]) * (v.values[i] - trial.values[i]))
                discrete += Double((d.values[i] - trial.values[i]) * (d.values[i] - trial.values[i]))
            }
        }
        // Quantization only removes information the decoder was trained to do without.
        #expect(continuous.isFinite && continuous < discrete * 1.5, "continuous \(continuous) vs discrete \(discrete)")
    }

    @Test func savesLoadsAndReadsRecipeParameters() throws {
        let t = try trained()
        let dir = temporaryDirectory("continuous")
        try t.save(to: dir)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("continuous_encoder.json").path))
        let loaded = ContinuousEncoderTokenizer()
        try loaded.load(from: dir)
        let trial = syntheticTrials(count: 1, seed: 12)[0]
        #expect(try loaded.encode(trial) == t.encode(trial))

        let made = try ContinuousEncoderTokenizer.make(PluginParameters(["projection": "linear", "width": "48", "codebook_dim": "24"]))
        #expect(made.projection == VectorProjectionSpec(kind: .linear, hidden: 0) && made.vectorWidth == 24)
        #expect(try ContinuousEncoderTokenizer.make(.empty).projection.kind == .mlp)
        let bad = #expect(throws: InputError.self) { try ContinuousEncoderTokenizer.make(PluginParameters(["projection": "conv"])) }
        #expect(bad?.field?.contains("projection") == true)
        #expect(throws: InputError.self) { try ContinuousEncoderTokenizer.make(PluginParameters(["projection_hidden": "-2"])) }
    }
}

@Suite("continuous-encoder trained with the model", .serialized)
struct TrainableContinuousEncoderTests {
    @Test func encoderGradientMatchesFiniteDifferences() throws {
        let t = ContinuousEncoderTokenizer(configuration: smallConfiguration(steps: 5), projection: .init(kind: .linear))
        try t.train(training: syntheticTrials(count: 4, seed: 3), validation: [], checkpointDirectory: nil, progress: .silent())
        #expect(t.trainsWithLanguageModel == false)
        #expect(try ContinuousEncoderTokenizer.make(PluginParameters(["train_encoder": "true"])).trainsWithLanguageModel)
        let trial = syntheticTrials(count: 1, frames: 30...30, seed: 8)[0]
        let z = try t.encodeForTraining(trial)
        #expect(z.shape == [8, 16])
        // The same vectors the frozen path gives.
        guard case .vectors(_, _, let values) = try t.encode(trial) else { Issue.record("expected vectors"); return }
        #expect(z.scalars == values)
        var rng = SeededRandom(seed: 2)
        let r = Tensor.randomNormal(shape: z.shape, std: 1, using: &rng)
        func loss() throws -> Double {
            let v = try t.encodeForTraining(trial)
            return (0..<v.count).reduce(0.0) { $0 + Double(v.data[$1]) * Double(r.data[$1]) }
        }
        let parameters = t.encoderParameters
        #expect(!parameters.isEmpty && parameters.allSatisfy { $0.name.hasPrefix("encoder.") })
        for p in parameters { p.zeroGrad() }
        _ = try t.encodeForTraining(trial)
        t.backwardEncoder(r)
        for p in [parameters.first!, parameters[parameters.count / 2], parameters.last!] {
            for index in [0, p.value.count / 3, p.value.count - 1] {
                let analytic = Double(p.grad!.data[index])
                // A small step: ReLU kinks within ±h would bias a wider difference.
                let numeric = try GradCheck.centralDifference(p, index, step: 2e-3, loss)
                #expect(abs(numeric - analytic) <= 5e-3 + 2e-2 * abs(analytic), "\(p.name)[\(index)]: \(numeric) vs \(analytic)")
            }
        }
    }
}
