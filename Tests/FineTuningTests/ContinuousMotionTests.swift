import BiomechCore
import Foundation
import Gemma3Backbone
import NumericsEngine
import GradientChecking
import Testing
@testable import ClinicalTasks
@testable import FineTuning
@testable import LoRAAdapter

/// Continuous motion vectors (the continuous-encoder baseline) through the trainer,
/// evaluation and the real Gemma 3 implementation at a tiny random configuration. Nested in
/// the Gemma fine-tuning suite so the two never train at the same time (their
/// bit-identity checks share the process-wide BLAS thread setting).
extension GemmaFineTuningTests {
    @Suite(.serialized) struct ContinuousMotionTests {
        static let width = 6

        func backbone(seed: UInt64 = 3) throws -> Gemma3LanguageBackbone {
            let b = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel(), contextLength: 512, seed: seed)
            _ = try b.extendVocabulary(with: MotionText.vectorVocabularyPieces)
            return b
        }

        /// Records whose motion is `steps` placeholders, and encodings whose first dimension
        /// tells the answer (positive: yes).
        func data(_ n: Int, steps: Int = 5, split: SplitSide = .train, seed: UInt64 = 5) -> ([QARecord], [String: MotionEncoding]) {
            var rng = SeededRandom(seed: seed)
            var records: [QARecord] = [], encodings: [String: MotionEncoding] = [:]
            for i in 0..<n {
                let label = i % 2 == 0 ? "yes" : "no"
                let trial = "\(split.rawValue)-t\(i)"
                let motion = MotionText.render(.vectors(count: steps, width: Self.width, values: []))
                let prompt = ChatTemplates.gemma([ChatTurn(.user, "Impaired? \(motion)")], true)
                let text = ChatTemplates.gemma([ChatTurn(.user, "Impaired? \(motion)"), ChatTurn(.model, label)], false)
                records.append(QARecord(id: "r\(i)", trialID: trial, participantID: "p\(i)", split: split, task: "impaired",
                                        prompt: prompt, answer: label, target: .category(label), text: text))
                let values = (0..<(steps * Self.width)).map { k in
                    Float(rng.nextGaussian()) + (k % Self.width == 0 ? (label == "yes" ? 2 : -2) : 0)
                }
                encodings[trial] = .vectors(count: steps, width: Self.width, values: values)
            }
            return (records, encodings)
        }

        func motion(_ b: Gemma3LanguageBackbone, _ encodings: [String: MotionEncoding], kind: VectorProjectionSpec.Kind = .mlp,
                    seed: UInt64 = 1) throws -> MotionVectorInputs {
            let projection = VectorProjection(spec: .init(kind: kind, hidden: 16), inputWidth: Self.width, outputWidth: b.embeddingWidth, seed: seed)
            return try MotionVectorInputs(projection: projection, placeholderID: b.textTokenizer.id(ofPiece: MotionText.vectorPiece)!,
                                          encodings: encodings)
        }

        @Test func placeholdersAreRecordedAndTruncationKeepsTheirSteps() throws {
            let b = try backbone()
            let (records, _) = data(1, steps: 30)
            let placeholder = b.textTokenizer.id(ofPiece: MotionText.vectorPiece)!
            let full = SamplePreparer(tokenizer: b.textTokenizer, maxLength: 1000, lossOnPrompt: true, vectorPlaceholder: placeholder)
                .prepare(records).samples[0]
            #expect(full.vectorSteps == Array(0..<30))
            #expect(full.vectorPositions.allSatisfy { full.tokens[$0] == placeholder })
            let cut = SamplePreparer(tokenizer: b.textTokenizer, maxLength: full.tokens.count - 20, lossOnPrompt: true,
                                     vectorPlaceholder: placeholder).prepare(records)
            #expect(cut.report.truncated == 1)
            let s = cut.samples[0]
            // 10 placeholders remain: the first 5 and the last 5 steps, at their new positions.
            #expect(s.vectorSteps == Array(0..<5) + Array(25..<30))
            #expect(s.vectorPositions.allSatisfy { s.tokens[$0] == placeholder } && s.vectorPositions.count == 10)
            #expect(s.tokens.count == full.tokens.count - 20)
            #expect(s.vectorPlaceholderCount == 30 && full.vectorPlaceholderCount == 30)
        }

        @Test func projectionGradientThroughGemmaMatchesFiniteDifferences() throws {
            let b = try backbone()
            let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 2, dropout: 0, targetModules: ["v_proj"]))
            try adapter.attach(to: b)
            let (records, encodings) = data(2)
            let m = try motion(b, encodings)
            try m.prepareProjection(trainingTrials: Array(encodings.keys), targetRMS: b.inputEmbeddingRMS)
            let samples = SamplePreparer(tokenizer: b.textTokenizer, maxLength: 400, lossOnPrompt: true, vectorPlaceholder: m.placeholderID)
                .prepare(records).samples
            func loss() throws -> Double {
                try b.evaluationLoss(tokens: samples.map(\.tokens), lossMask: samples.map(\.lossMask), vectors: m.rows(for: samples)).loss
            }
            for p in m.projection.parameters { p.zeroGrad() }
            let vectors = try #require(try m.rows(for: samples))
            #expect(vectors.count == 10)
            _ = try b.trainingStep(tokens: samples.map(\.tokens), lossMask: samples.map(\.lossMask), gradScale: 1, vectors: vectors)
            m.projection.backward(try #require(b.inputVectorGradient))
            for p in m.projection.parameters {
                for index in [0, 7, p.value.count - 1] {
                    let analytic = Double(p.grad!.data[index])
                    let numeric = try GradCheck.centralDifference(p, index, loss)
                    #expect(GradCheck.agreesThroughModel(numeric, analytic), "\(p.name)[\(index)]: \(numeric) vs \(analytic)")
                }
            }
        }

        func options() -> FineTuningOptions {
            var o = FineTuningOptions()
            o.epochs = 3; o.batchSize = 2; o.gradientAccumulation = 2; o.learningRate = 1e-2; o.warmupRatio = 0.1
            o.checkpointEvery = 3; o.validationEvery = 3; o.seed = 4; o.maxLength = 200
            return o
        }

        @Test func trainingResumesBitIdenticallyAndEvaluationUsesTheSavedProjection() throws {
            // Bit-identity needs a fixed thread count while other suites may change it.
            try Threads.withCount(2) { try trainingResumesBitIdenticallyAndEvaluationUsesTheSavedProjectionWithTwoThreads() }
        }

        func trainingResumesBitIdenticallyAndEvaluationUsesTheSavedProjectionWithTwoThreads() throws {
            let (train, trainEncodings) = data(8)
            let (validation, validationEncodings) = data(4, split: .validation, seed: 9)
            let encodings = trainEncodings.merging(validationEncodings) { a, _ in a }
            func make() throws -> (Gemma3LanguageBackbone, LoRAAdapter, MotionVectorInputs) {
                let b = try backbone()
                let a = LoRAAdapter(configuration: .init(rank: 4, alpha: 8, dropout: 0.1, seed: 2))
                try a.attach(to: b)
                return (b, a, try motion(b, encodings))
            }
            let (b1, a1, m1) = try make()
            let d1 = temporaryDirectory("continuous-whole")
            let r1 = try FineTuner(model: b1, adapter: a1, tokenizer: b1.textTokenizer, options: options(), outputDirectory: d1,
                                   motion: m1).train(train, validation: validation, resume: false)
            #expect(r1.finished && r1.totalSteps == 6)
            let log = try FineTuner.readLog(d1.appendingPathComponent("training_log.jsonl")).compactMap(\.loss)
            #expect(log.last! < log.first!, "training loss \(log)")
            let (b2, a2, m2) = try make()
            let d2 = temporaryDirectory("continuous-resumed")
            var stopping = options(); stopping.stopAfterSteps = 4
            _ = try FineTuner(model: b2, adapter: a2, tokenizer: b2.textTokenizer, options: stopping, outputDirectory: d2, motion: m2)
                .train(train, validation: validation, resume: false)
            let (b3, a3, m3) = try make()
            let r3 = try FineTuner(model: b3, adapter: a3, tokenizer: b3.textTokenizer, options: options(), outputDirectory: d2, motion: m3)
                .train(train, validation: validation, resume: true)
            #expect(r3.resumedFromStep == 3 && r3.finished)
            let identical = zip(m1.projection.parameters + a1.trainableParameters, m3.projection.parameters + a3.trainableParameters)
                .allSatisfy { $0.name == $1.name && $0.value.scalars == $1.value.scalars }
                && m1.projection.inputMean.scalars == m3.projection.inputMean.scalars
                && r1.finalValidationLoss == r3.finalValidationLoss
            #expect(identical, "resumed run differs from the uninterrupted one")
            // A checkpoint of a linear projection does not resume an MLP run.
            let (b5, a5, _) = try make()
            let linear = try motion(b5, encodings, kind: .linear)
            let refused = #expect(throws: InputError.self) {
                try FineTuner(model: b5, adapter: a5, tokenizer: b5.textTokenizer, options: options(), outputDirectory: d2, motion: linear)
                    .train(train, validation: validation, resume: true)
            }
            #expect(refused?.message.contains("linear projection") == true)

            // A fresh backbone with the saved adapter and projection answers as the trained one.
            let (b4, a4, m4) = try make()
            try a4.load(from: d1.appendingPathComponent("adapter"))
            try m4.load(from: d1.appendingPathComponent("adapter"))
            a4.isTraining = false; a1.isTraining = false
            let prompt = b1.textTokenizer.encode(validation[0].prompt, addBOS: false)
            let input1 = try m1.input(tokens: prompt, trialID: validation[0].trialID)
            #expect(input1.vectorPositions.count == 5)
            #expect(try b4.logits(for: m4.input(tokens: prompt, trialID: validation[0].trialID)) == b1.logits(for: input1))
            let p = try GenerationEvaluation.predict(records: validation, tasks: ["impaired": YesNoTask()], backbone: b4,
                                                     adapter: a4, maxNewTokens: 3, motion: m4)
            #expect(p.count == 4 && p.allSatisfy { $0.rawAnswer != nil })
        }

        @Test func mismatchedPlaceholdersAndMissingTrialsAreInputErrors() throws {
            let b = try backbone()
            let (records, encodings) = data(1, steps: 4)
            let m = try motion(b, encodings)
            let prompt = b.textTokenizer.encode(records[0].prompt, addBOS: false)
            #expect(try m.input(tokens: prompt, trialID: records[0].trialID).vectorPositions.count == 4)
            let short = Array(prompt.prefix { $0 != m.placeholderID }) + [m.placeholderID]
            #expect(throws: InputError.self) { try m.input(tokens: short, trialID: records[0].trialID) }
            #expect(throws: InputError.self) { try m.input(tokens: prompt, trialID: "nobody") }
            #expect(throws: InputError.self) { try m.add(trial: "x", encoding: .tokens([1, 2])) }
            // Training refuses a prompt whose placeholders do not match its trial's steps.
            let (other, _) = data(1, steps: 3)
            let samples = SamplePreparer(tokenizer: b.textTokenizer, maxLength: 400, lossOnPrompt: true, vectorPlaceholder: m.placeholderID)
                .prepare([QARecord(id: "q", trialID: records[0].trialID, participantID: "p", split: .train, task: "impaired",
                                   prompt: other[0].prompt, answer: "yes", target: .category("yes"), text: other[0].text)]).samples
            let error = #expect(throws: InputError.self) { try m.rows(for: samples) }
            #expect(error?.message.contains("3 motion placeholders") == true)
            #expect(throws: InputError.self) { try m.add(trial: "x", encoding: .vectors(count: 1, width: 3, values: [0, 0, 0])) }
        }
    }
}

/// A small trainable encoder for the trainer's tests: step `t` is `W · (f[2t] + f[2t+1]) / 2`
/// (a ragged last frame is used alone).
final class PairAveragingEncoder: TrainableMotionEncoder {
    let weight: Parameter
    let channels: Int, width: Int
    private var pooled: Tensor?
    var trainsWithLanguageModel: Bool { true }
    var encoderParameters: [Parameter] { [weight] }

    init(channels: Int, width: Int, seed: UInt64) {
        self.channels = channels; self.width = width
        var rng = SeededRandom(seed: seed)
        weight = Parameter(name: "encoder.weight", value: .randomNormal(shape: [width, channels], std: 1, using: &rng))
    }

    func encodeForTraining(_ f: FeatureMatrix) throws -> Tensor {
        let steps = (f.frameCount + 1) / 2
        let p = Tensor(shape: [steps, channels])
        for s in 0..<steps {
            let frames = min(2, f.frameCount - 2 * s)
            for c in 0..<channels {
                var sum: Float = 0
                for k in 0..<frames { sum += f.values[(2 * s + k) * channels + c] }
                p.data[s * channels + c] = sum / Float(frames)
            }
        }
        pooled = p
        let out = Tensor(shape: [steps, width])
        for s in 0..<steps { for o in 0..<width {
            var v: Float = 0
            for c in 0..<channels { v += weight.value.data[o * channels + c] * p.data[s * channels + c] }
            out.data[s * width + o] = v
        } }
        return out
    }

    func backwardEncoder(_ g: Tensor) {
        guard let p = pooled, let gw = weight.grad else { return }
        for s in 0..<p.rowCount { for o in 0..<width { for c in 0..<channels {
            gw.data[o * channels + c] += g.data[s * width + o] * p.data[s * channels + c]
        } } }
    }
}

extension GemmaFineTuningTests.ContinuousMotionTests {
    @Test func encoderTrainedWithTheModelGetsFiniteDifferenceGradients() throws {
        let b = try backbone()
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 2, dropout: 0, targetModules: ["v_proj"]))
        try adapter.attach(to: b)
        let (records, _) = data(2, steps: 4)
        var rng = SeededRandom(seed: 3)
        var features: [String: FeatureMatrix] = [:]
        for r in records {  // 8 frames → 4 steps, like the placeholders
            features[r.trialID] = FeatureMatrix(channelNames: ["a", "b", "c"], frameRate: 30,
                                                values: (0..<24).map { _ in Float(rng.nextGaussian()) })
        }
        let encoder = PairAveragingEncoder(channels: 3, width: Self.width, seed: 1)
        let projection = VectorProjection(spec: .init(kind: .mlp, hidden: 16), inputWidth: Self.width, outputWidth: b.embeddingWidth, seed: 1)
        let m = MotionVectorInputs(projection: projection, placeholderID: b.textTokenizer.id(ofPiece: MotionText.vectorPiece)!,
                                   encoder: encoder, features: features)
        #expect(m.parameters.map(\.name).last == "encoder.weight")
        try m.prepareProjection(trainingTrials: Array(features.keys), targetRMS: b.inputEmbeddingRMS)
        // Truncated to 3 of 4 steps in the first sample: the cut step gets no gradient.
        var samples = SamplePreparer(tokenizer: b.textTokenizer, maxLength: 400, lossOnPrompt: true, vectorPlaceholder: m.placeholderID)
            .prepare(records).samples
        samples[0].vectorPositions.removeLast(); samples[0].vectorSteps.removeLast()
        func loss() throws -> Double {
            try b.evaluationLoss(tokens: samples.map(\.tokens), lossMask: samples.map(\.lossMask), vectors: m.rows(for: samples)).loss
        }
        for p in m.parameters { p.zeroGrad() }
        let vectors = try #require(try m.rows(for: samples))
        _ = try b.trainingStep(tokens: samples.map(\.tokens), lossMask: samples.map(\.lossMask), gradScale: 1, vectors: vectors)
        try m.backward(samples, gradient: try #require(b.inputVectorGradient))
        let w = encoder.weight
        for index in [0, 5, w.value.count - 1] {
            let analytic = Double(w.grad!.data[index])
            let numeric = try GradCheck.centralDifference(w, index, loss)
            #expect(GradCheck.agreesThroughModel(numeric, analytic), "encoder.weight[\(index)]: \(numeric) vs \(analytic)")
        }
        // Saved with the projection, restored into a fresh encoder.
        let dir = temporaryDirectory("trained-encoder")
        try m.save(to: dir)
        let other = PairAveragingEncoder(channels: 3, width: Self.width, seed: 9)
        let restored = MotionVectorInputs(projection: VectorProjection(spec: .init(kind: .mlp, hidden: 16), inputWidth: Self.width,
                                                                       outputWidth: b.embeddingWidth, seed: 5),
                                          placeholderID: m.placeholderID, encoder: other, features: features)
        try restored.load(from: dir)
        #expect(other.weight.value.scalars == w.value.scalars)
        #expect(throws: InputError.self) { try restored.add(trial: "x", encoding: .vectors(count: 1, width: Self.width, values: .init(repeating: 0, count: Self.width))) }
    }
}
