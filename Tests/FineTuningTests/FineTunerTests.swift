import BiomechCore
import Foundation
import NumericsEngine
import Testing
@testable import ClinicalTasks
@testable import FineTuning
@testable import LoRAAdapter

struct YesNoTask: TaskHead {
    var id: String { "impaired" }
    var kind: TaskKind { .classification }
    var classNames: [String] { ["no", "yes"] }
    func applies(to labels: [String: LabelValue]) -> Bool { true }
    func target(from labels: [String: LabelValue]) -> LabelValue? { labels["impaired"] }
    func prompt(using random: inout SeededRandom) -> String { "Is this gait impaired? <motion>" }
    func answer(for target: LabelValue) -> String { target.category ?? "" }
    func parse(answer: String) -> LabelValue? {
        let a = answer.lowercased()
        return a.hasPrefix("yes") ? .category("yes") : a.hasPrefix("no") ? .category("no") : nil
    }
}

@Suite struct SamplePreparationTests {
    let tokenizer = ToyTokenizer()

    @Test func lossMaskAndBoundary() throws {
        let r = toyRecords(1)[0]
        let (s, report) = SamplePreparer(tokenizer: tokenizer, maxLength: 1024, lossOnPrompt: true).prepare([r])
        #expect(report.kept == 1 && report.dropped == 0 && report.truncated == 0)
        #expect(s[0].tokens == tokenizer.encode(r.text, addBOS: false))
        #expect(s[0].lossMask[0] == false && s[0].lossMask.dropFirst().allSatisfy { $0 })
        let completion = tokenizer.decode(Array(s[0].tokens[s[0].promptLength...]))
        #expect(completion == "yes<end_of_turn>\n")
        let (p, _) = SamplePreparer(tokenizer: tokenizer, maxLength: 1024, lossOnPrompt: false).prepare([r])
        #expect(p[0].lossMask.enumerated().allSatisfy { $0.element == ($0.offset >= p[0].promptLength) })
    }

    @Test func truncationCutsTheMotionMiddleAndNeverTheAnswer() {
        let r = toyRecords(1, motionLength: 40)[0]
        let full = tokenizer.encode(r.text, addBOS: false)
        let limit = full.count - 30
        let (s, report) = SamplePreparer(tokenizer: tokenizer, maxLength: limit, lossOnPrompt: true).prepare([r])
        #expect(report.truncated == 1 && report.kept == 1)
        #expect(s[0].tokens.count == limit)
        let text = tokenizer.decode(s[0].tokens)
        #expect(text.hasSuffix("yes<end_of_turn>\n"))
        #expect(text.contains(MotionText.start) && text.contains(MotionText.end))
        let motionIDs = Set((0..<8).map { tokenizer.id(ofPiece: MotionText.tokenPiece($0))! })
        #expect(s[0].tokens.filter { motionIDs.contains($0) }.count == 10)
        // The kept motion tokens are the first 5 and the last 5 of the original span.
        let original = full.filter { motionIDs.contains($0) }, kept = s[0].tokens.filter { motionIDs.contains($0) }
        #expect(kept == Array(original.prefix(5) + original.suffix(5)))
        // Too short to fit even with two motion tokens: dropped and counted.
        let (d, dr) = SamplePreparer(tokenizer: tokenizer, maxLength: 20, lossOnPrompt: true).prepare([r])
        #expect(d.isEmpty && dr.dropped == 1 && dr.droppedIDs == ["r0"])
    }

    @Test func stepsFromFractionalEpochs() {
        var o = FineTuningOptions()
        o.epochs = 1.2; o.batchSize = 1; o.gradientAccumulation = 8
        #expect(o.totalSteps(samples: 100) == 15)
        o.epochs = 0.01
        #expect(o.totalSteps(samples: 10) == 1)
        #expect(o.warmupSteps(100) == 3)
    }

    @Test func sampleOrderIsAPermutationPerEpoch() {
        var order = SampleOrder(count: 7, seed: 4)
        let first = (0..<7).map { order.sample(at: $0) }, second = (7..<14).map { order.sample(at: $0) }
        #expect(first.sorted() == Array(0..<7) && second.sorted() == Array(0..<7))
        #expect(first != second)
        var again = SampleOrder(count: 7, seed: 4)
        #expect(again.sample(at: 9) == second[2])
    }
}

@Suite(.serialized) struct FineTunerTests {
    func setUp(seed: UInt64 = 1) throws -> (ToyLanguageModel, LoRAAdapter) {
        let model = ToyLanguageModel(seed: seed)
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 4, dropout: 0.1, targetModules: ["up_proj", "down_proj"], seed: 7))
        try adapter.attach(toModel: model)
        return (model, adapter)
    }

    /// The protocol's default per-sequence losses: each sequence's mean loss times its count.
    @Test func defaultSequenceLossesScoreOneSequenceAtATime() throws {
        let (model, _) = try setUp()
        let samples = SamplePreparer(tokenizer: ToyTokenizer(), maxLength: 1024, lossOnPrompt: false).prepare(toyRecords(3)).samples
        let batched = try model.sequenceLosses(tokens: samples.map(\.tokens), lossMask: samples.map(\.lossMask), vectors: nil)
        for (s, total) in zip(samples, batched) {
            let (loss, count) = try model.evaluationLoss(tokens: [s.tokens], lossMask: [s.lossMask])
            #expect(count > 0 && abs(total - loss * Double(count)) <= 1e-9 * max(1, abs(total)))
        }
        #expect(batched.count == 3)
    }


    func options() -> FineTuningOptions {
        var o = FineTuningOptions()
        o.epochs = 3; o.batchSize = 2; o.gradientAccumulation = 2; o.learningRate = 2e-2; o.warmupRatio = 0.2
        o.checkpointEvery = 2; o.validationEvery = 3; o.seed = 11; o.maxGradNorm = 1
        return o
    }

    @Test func trainingLowersTheLossAndWritesItsFiles() throws {
        let (model, adapter) = try setUp()
        let dir = temporaryDirectory("train")
        let trainer = FineTuner(model: model, adapter: adapter, tokenizer: model.tokenizerObject, options: options(),
                                outputDirectory: dir)
        let train = toyRecords(12), validation = toyRecords(4, split: .validation, seed: 9)
        let before = try trainer.validationLoss(SamplePreparer(tokenizer: model.tokenizerObject, maxLength: 1024, lossOnPrompt: true)
            .prepare(validation).samples)
        let result = try trainer.train(train, validation: validation, resume: false)
        #expect(result.finished && result.totalSteps == 9 && result.completedSteps == 9)
        let after = try #require(result.finalValidationLoss)
        #expect(after < before)
        let log = try FineTuner.readLog(trainer.logURL)
        #expect(log.filter { $0.loss != nil }.map(\.step) == Array(1...9))
        #expect(log.filter { $0.validationLoss != nil }.map(\.step) == [3, 6, 9])
        #expect(log.first!.learningRate! > 0 && log.first!.tokensPerSecond! > 0)
        let svg = try String(contentsOf: dir.appendingPathComponent("loss_curve.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline"))
        let checkpoints = trainer.checkpoints().map(\.lastPathComponent)
        #expect(checkpoints == ["step-0000008", "step-0000009"])
        for f in ["adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "trainer_state.json"] {
            #expect(FileManager.default.fileExists(atPath: trainer.checkpoints().last!.appendingPathComponent(f).path), "\(f)")
        }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("adapter/adapter_model.safetensors").path))
        #expect(!adapter.isTraining)
    }

    @Test func resumedTrainingIsBitIdentical() throws {
        // Bit-identity needs a fixed thread count while other suites may change it.
        try Threads.withCount(2) { try resumedTrainingIsBitIdenticalWithTwoThreads() }
    }

    func resumedTrainingIsBitIdenticalWithTwoThreads() throws {
        let train = toyRecords(10), validation = toyRecords(3, split: .validation, seed: 9)
        // Uninterrupted.
        let (m1, a1) = try setUp()
        let d1 = temporaryDirectory("whole")
        let r1 = try FineTuner(model: m1, adapter: a1, tokenizer: m1.tokenizerObject, options: options(), outputDirectory: d1)
            .train(train, validation: validation, resume: false)
        // Interrupted after 3 steps (last checkpoint at step 2), then resumed in a fresh process state.
        let (m2, a2) = try setUp()
        let d2 = temporaryDirectory("resumed")
        var stopping = options(); stopping.stopAfterSteps = 3
        let partial = try FineTuner(model: m2, adapter: a2, tokenizer: m2.tokenizerObject, options: stopping, outputDirectory: d2)
            .train(train, validation: validation, resume: true)
        #expect(!partial.finished && partial.completedSteps == 3)
        let (m3, a3) = try setUp(seed: 1)
        // Perturb what the checkpoint must restore, so a silent no-op would fail.
        for p in a3.projections { p.random = SeededRandom(seed: 999) }
        let r3 = try FineTuner(model: m3, adapter: a3, tokenizer: m3.tokenizerObject, options: options(), outputDirectory: d2)
            .train(train, validation: validation, resume: true)
        #expect(r3.resumedFromStep == 2 && r3.finished)
        expectResumedEqualsWhole(a1, r1, a3, r3)
        let l1 = try FineTuner.readLog(d1.appendingPathComponent("training_log.jsonl")).map { [$0.step] + [$0.loss, $0.validationLoss].map { $0.map { Int($0.bitPattern) } ?? -1 } }
        let l3 = try FineTuner.readLog(d2.appendingPathComponent("training_log.jsonl")).map { [$0.step] + [$0.loss, $0.validationLoss].map { $0.map { Int($0.bitPattern) } ?? -1 } }
        #expect(l1 == l3)
    }

    /// Resuming a finished run trains nothing and leaves its saved adapter untouched (so the
    /// evaluation's predictions stay current); without the adapter it is written again.
    @Test func resumingAFinishedRunKeepsItsAdapter() throws {
        let train = toyRecords(10)
        let (m, a) = try setUp()
        let dir = temporaryDirectory("finished")
        _ = try FineTuner(model: m, adapter: a, tokenizer: m.tokenizerObject, options: options(), outputDirectory: dir).train(train)
        let weights = dir.appendingPathComponent("adapter/adapter_model.safetensors")
        func modified() throws -> Date { try #require(try FileManager.default.attributesOfItem(atPath: weights.path)[.modificationDate] as? Date) }
        let before = try modified()
        Thread.sleep(forTimeInterval: 0.05)
        let (m2, a2) = try setUp()
        let again = try FineTuner(model: m2, adapter: a2, tokenizer: m2.tokenizerObject, options: options(), outputDirectory: dir)
            .train(train, resume: true)
        #expect(again.finished && again.adapterDirectory != nil)
        #expect(try modified() == before)
        try FileManager.default.removeItem(at: weights)
        let (m3, a3) = try setUp()
        _ = try FineTuner(model: m3, adapter: a3, tokenizer: m3.tokenizerObject, options: options(), outputDirectory: dir).train(train, resume: true)
        #expect(FileManager.default.fileExists(atPath: weights.path))
    }

    @Test func checkpointForAnotherRunIsRejected() throws {
        let (m, a) = try setUp()
        let dir = temporaryDirectory("mismatch")
        var o = options(); o.stopAfterSteps = 2
        _ = try FineTuner(model: m, adapter: a, tokenizer: m.tokenizerObject, options: o, outputDirectory: dir).train(toyRecords(10))
        let (m2, a2) = try setUp()
        #expect(throws: InputError.self) {
            try FineTuner(model: m2, adapter: a2, tokenizer: m2.tokenizerObject, options: options(), outputDirectory: dir)
                .train(toyRecords(12), resume: true)
        }
    }

    @Test func evaluationWritesPredictions() throws {
        let (model, adapter) = try setUp()
        let records = toyRecords(6, split: .test)
        let out = temporaryDirectory("eval").appendingPathComponent("predictions.jsonl")
        let p = try GenerationEvaluation.evaluate(records: records, tasks: ["impaired": YesNoTask()], backbone: model,
                                                  adapter: adapter, maxNewTokens: 4, maxQuestionsPerTask: 5, output: out)
        #expect(p.count == 5)
        #expect(p.allSatisfy { $0.model == "biomechgpt" && $0.split == .test && $0.rawAnswer != nil })
        let back = try PredictionsFile.read(from: out)
        #expect(back == p)
        let scores = try Scoring.score(back, tasks: [TaskInfo(id: "impaired", kind: .classification, classes: ["no", "yes"])])
        #expect(scores.count == 1)
        #expect(GenerationEvaluation.answerText(model.tokenizerObject.encode("yes<end_of_turn>\n", addBOS: false),
                                                tokenizer: model.tokenizerObject) == "yes")
    }
}
