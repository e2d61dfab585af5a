import BiomechCore
import Foundation
import Gemma3Backbone
import NumericsEngine
import GradientChecking
import Testing
@testable import ClinicalTasks
@testable import FineTuning
@testable import LoRAAdapter
@testable import QLoRAAdapter

/// Fine-tuning the real Gemma 3 implementation at a tiny random configuration.
@Suite(.serialized) struct GemmaFineTuningTests {
    static let motionPieces = MotionText.vocabularyPieces(codebookSize: 8)

    func backbone(seed: UInt64 = 3) throws -> Gemma3LanguageBackbone {
        let b = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel(), contextLength: 512, seed: seed)
        _ = try b.extendVocabulary(with: Self.motionPieces)
        return b
    }

    func records(_ n: Int, split: SplitSide = .train, seed: UInt64 = 5) -> [QARecord] {
        toyRecords(n, split: split, motionLength: 12, seed: seed)
    }

    @Test func loraAttachesToEveryProjectionWithAddedRows() throws {
        let b = try backbone()
        let adapter = LoRAAdapter(configuration: .init(rank: 4, alpha: 8))
        try adapter.attach(to: b)
        #expect(adapter.projections.count == 2 * 7)
        let rows = try #require(b.addedTokenRows)
        #expect(rows.rows.count == Self.motionPieces.count)
        #expect(Set(b.trainableParameters.map(\.name)) == Set(adapter.trainableParameters.map(\.name)))
        // B = 0: the adapted model computes what the base computes.
        let plain = try backbone()
        adapter.isTraining = false
        let prompt = b.textTokenizer.encode(records(1)[0].prompt, addBOS: false)
        #expect(try b.logits(for: BackboneInput(tokens: prompt)) == plain.logits(for: BackboneInput(tokens: prompt)))
    }

    @Test func loraGradientThroughTheModelMatchesFiniteDifferences() throws {
        let b = try backbone()
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 2, dropout: 0, targetModules: ["v_proj", "down_proj"]))
        try adapter.attach(to: b)
        var rng = SeededRandom(seed: 1)
        for p in adapter.projections { for i in 0..<p.loraB.value.count { p.loraB.value.data[i] = Float(rng.nextGaussian()) * 0.05 } }
        let tokens = [Array(b.textTokenizer.encode(records(1)[0].text, addBOS: false).prefix(24))]
        let mask = [tokens[0].indices.map { $0 > 0 }]
        for p in adapter.trainableParameters { p.zeroGrad() }
        _ = try b.trainingStep(tokens: tokens, lossMask: mask, gradScale: 1)
        for p in adapter.projections.prefix(2) {
            for (param, index) in [(p.loraA, 3), (p.loraB, 5)] {
                let analytic = Double(param.grad!.data[index])
                let numeric = try GradCheck.centralDifference(param, index) { try b.evaluationLoss(tokens: tokens, lossMask: mask).loss }
                #expect(GradCheck.agreesThroughModel(numeric, analytic), "\(param.name)[\(index)]: \(numeric) vs \(analytic)")
            }
        }
    }

    func options() -> FineTuningOptions {
        var o = FineTuningOptions()
        o.epochs = 2; o.batchSize = 2; o.gradientAccumulation = 2; o.learningRate = 5e-3; o.warmupRatio = 0.25
        o.checkpointEvery = 2; o.validationEvery = 2; o.seed = 4; o.maxLength = 200
        return o
    }

    @Test(arguments: ["lora", "qlora"])
    func resumedTrainingIsBitIdenticalOnGemma(kind: String) throws {
        // Bit-identity needs a fixed thread count while other suites may change it.
        try Threads.withCount(2) { try resumedTrainingIsBitIdenticalWithTwoThreads(kind: kind) }
    }

    func resumedTrainingIsBitIdenticalWithTwoThreads(kind: String) throws {
        func make() throws -> (Gemma3LanguageBackbone, LoRAAdapter) {
            let b = try backbone()
            let lora = LoRAConfiguration(rank: 4, alpha: 8, dropout: 0.1, seed: 2)
            if kind == "qlora" {
                let q = QLoRAAdapter(configuration: .init(lora: lora))
                try q.attach(to: b)
                return (b, q.lora)
            }
            let a = LoRAAdapter(configuration: lora)
            try a.attach(to: b)
            return (b, a)
        }
        let train = records(8), validation = records(2, split: .validation, seed: 7)
        // Bit-identity holds for a fixed thread count, which `Threads.withCount` (above) holds
        // against the other suites in the process.
        let progress = ProgressLog.silent()
        let (b1, a1) = try make()
        let d1 = temporaryDirectory("gemma-whole")
        let r1 = try FineTuner(model: b1, adapter: a1, tokenizer: b1.textTokenizer, options: options(), outputDirectory: d1,
                               progress: progress).train(train, validation: validation, resume: false)
        #expect(r1.finished && r1.totalSteps == 4)
        let (b2, a2) = try make()
        let d2 = temporaryDirectory("gemma-resumed")
        var stopping = options(); stopping.stopAfterSteps = 3
        _ = try FineTuner(model: b2, adapter: a2, tokenizer: b2.textTokenizer, options: stopping, outputDirectory: d2)
            .train(train, validation: validation, resume: false)
        let (b3, a3) = try make()
        let r3 = try FineTuner(model: b3, adapter: a3, tokenizer: b3.textTokenizer, options: options(), outputDirectory: d2)
            .train(train, validation: validation, resume: true)
        #expect(r3.resumedFromStep == 2 && r3.finished)
        expectResumedEqualsWhole(a1, r1, a3, r3)
        // The saved adapter restores onto a fresh backbone and gives the same logits.
        let (b4, a4) = try make()
        try a4.load(from: d1.appendingPathComponent("adapter"))
        a4.isTraining = false; a1.isTraining = false
        let prompt = b1.textTokenizer.encode(validation[0].prompt, addBOS: false)
        #expect(try b4.logits(for: BackboneInput(tokens: prompt)) == b1.logits(for: BackboneInput(tokens: prompt)))
    }

    /// QLoRA's `gguf` mode takes its blocks from the file the backbone was loaded from, not
    /// from a path or `$BIOMECHGPT_MODEL` that could name another file.
    /// NF4 at load (the adapter's projection builder) gives the model that NF4 at attach gives:
    /// the same codes, the same logits to the bit; attach keeps the projections built at load.
    @Test func nf4AtLoadEqualsNF4AtAttach() throws {
        let lora = LoRAConfiguration(rank: 2, alpha: 2, dropout: 0, seed: 1)
        let atAttach = QLoRAAdapter(configuration: .init(lora: lora))
        let dense = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel(), contextLength: 64, seed: 4)
        try atAttach.attach(to: dense)

        let atLoad = QLoRAAdapter(configuration: .init(lora: lora))
        let builder = try #require(atLoad.projectionBuilder)
        let quantized = try ProjectionBuilding.with(builder) {
            // Through the plugin factory, as the fine-tuning stage makes it (no model file: byte-level tokenizer).
            try Gemma3LanguageBackbone.make(PluginParameters(["config": "tiny", "seed": "4", "context_length": "64",
                                                              "model": "/nonexistent/none.gguf"]))
        }
        let built = quantized.model.projections
        #expect(built.count == 7 * quantized.model.configuration.layerCount)
        #expect(built.values.allSatisfy { ($0 as? QuantizedProjection)?.weight is NF4Weight }, "projections are NF4 as loaded")
        try atLoad.attach(to: quantized)
        for (a, b) in zip(atAttach.lora.projections, atLoad.lora.projections) {
            #expect(a.name == b.name)
            let base = try #require(b.base as? QuantizedProjection)
            #expect(base === (built[b.name] as? QuantizedProjection), "\(b.name): attach replaced the projection built at load")
            let wa = try #require((a.base as? QuantizedProjection)?.weight as? NF4Weight), wb = try #require(base.weight as? NF4Weight)
            var ra = [Float](repeating: 0, count: wa.rows * wa.columns), rb = ra
            ra.withUnsafeMutableBufferPointer { wa.dequantizeRows(0..<wa.rows, into: $0.baseAddress!) }
            rb.withUnsafeMutableBufferPointer { wb.dequantizeRows(0..<wb.rows, into: $0.baseAddress!) }
            #expect(ra == rb, "\(b.name): different NF4 values")
        }
        let tokens = [2, 70, 71, 72, 73, 74]
        let la = dense.model.logits(rows: [5], hidden: dense.model.forward(Gemma3Batch([tokens]))).scalars
        let lb = quantized.model.logits(rows: [5], hidden: quantized.model.forward(Gemma3Batch([tokens]))).scalars
        #expect(la.map(\.bitPattern) == lb.map(\.bitPattern))
    }

    @Test func ggufQLoRAUsesTheBackbonesOwnFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let url = root.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            print("SKIP ggufQLoRAUsesTheBackbonesOwnFile: the real model is not at \(url.path); run `make model`")
            return
        }
        let b = try Gemma3LanguageBackbone(modelAt: url, contextLength: 64)
        #expect(b.ggufFile?.path == url.path)
        let adapter = QLoRAAdapter(configuration: .init(lora: .init(rank: 2, alpha: 2), quantization: .gguf,
                                                        ggufPath: "/nonexistent/other.gguf"))
        try adapter.attach(to: b)
        #expect(adapter.lora.projections.count == 7 * b.model.configuration.layerCount)
        #expect(adapter.lora.projections.allSatisfy { $0.base is QuantizedProjection })
    }

    @Test func evaluationOnGemmaWritesParseablePredictionRecords() throws {
        let b = try backbone()
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 4))
        try adapter.attach(to: b)
        let p = try GenerationEvaluation.predict(records: records(3, split: .test), tasks: ["impaired": YesNoTask()], backbone: b,
                                                 adapter: adapter, maxNewTokens: 3)
        #expect(p.count == 3 && p.allSatisfy { $0.model == "biomechgpt" && $0.rawAnswer != nil })
    }

    /// Ranking's likelihoods against the generation path: the same sums from next-token
    /// logits at the last position (`logits(for:)`), one prefix at a time.
    @Test func answerRankingScoresEqualNextTokenLikelihoods() throws {
        let b = try backbone()
        let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 4, dropout: 0.5))
        try adapter.attach(to: b)
        var rng = SeededRandom(seed: 9)
        for p in adapter.projections { for i in 0..<p.loraB.value.count { p.loraB.value.data[i] = Float(rng.nextGaussian()) * 0.05 } }
        adapter.isTraining = true  // ranking must switch dropout off itself
        let task = YesNoTask(), questions = records(3, split: .test)
        let ranking = try AnswerRanking.rank(records: questions, tasks: ["impaired": task], model: b, tokenizer: b.textTokenizer,
                                             adapter: adapter, maxLength: 512)
        let ranked = ranking.questions
        #expect(ranking.skipped.isEmpty)
        #expect(adapter.isTraining)
        adapter.isTraining = false
        let prompt = b.textTokenizer.encode(questions[0].prompt, addBOS: false)
        let reference: [Double] = try task.classNames.map { name in
            let tokens = prompt + b.textTokenizer.encode(name + "<end_of_turn>\n", addBOS: false)
            var nll = 0.0
            for i in prompt.count..<tokens.count {
                let logits = try b.logits(for: BackboneInput(tokens: Array(tokens[..<i]))).map(Double.init)
                let top = logits.max()!
                nll += top + log(logits.reduce(0) { $0 + exp($1 - top) }) - logits[tokens[i]]
            }
            return nll
        }
        #expect(ranked.count == 3 && ranked[0].answers.classes == task.classNames)
        // Regression questions have no candidates: ranking leaves them out.
        var speed = questions[0]; speed.task = "walking_speed"
        let withRegression = try AnswerRanking.rank(records: [speed], tasks: ["impaired": task, "walking_speed": SpeedTask()], model: b,
                                                    tokenizer: b.textTokenizer, maxLength: 512)
        #expect(withRegression.questions.isEmpty && withRegression.skipped.isEmpty)
        for (mine, theirs) in zip(ranked[0].answers.negativeLogLikelihoods, reference) {
            #expect(abs(mine - theirs) <= 1e-3 * max(1, abs(theirs)), "\(mine) vs \(theirs)")
        }
        // Each prompt + answer as its own sequence, one per forward, gives the shared prompt's scores.
        let oneByOne = try #require(try AnswerRanking.score(questions[0], task: task, model: b, tokenizer: b.textTokenizer,
                                                            maxLength: 512, sharePrompt: false, batchTokens: 1))
        for (x, y) in zip(oneByOne.answers.negativeLogLikelihoods, ranked[0].answers.negativeLogLikelihoods) { #expect(abs(x - y) <= 1e-4 * max(1, abs(y))) }
        func argmin(_ x: [Double]) -> String { task.classNames[x.indices.min { x[$0] < x[$1] }!] }
        let p = try AnswerRanking.predictions(ranked, tasks: ["impaired": task], offsets: [:])
        #expect(p.calibrated.isEmpty && p.ranked.count == 3 && p.ranked.allSatisfy { $0.model == AnswerRanking.modelName })
        #expect(p.ranked[0].prediction == .category(argmin(reference)) && p.ranked[0].rawAnswer == argmin(reference))
    }

    /// Greedy answers and rankings in one pass (the prompt run once per classification
    /// question) give `predict`'s answers and `rank`'s likelihoods; a prompt cut to fit is
    /// ranked with its own cut prompt, as `rank` does.
    @Test func answeringAndRankingInOnePassEqualsEachAlone() throws {
        let task = YesNoTask()
        let tasks: [String: any TaskHead] = ["impaired": task, "walking_speed": SpeedTask()]
        var speed = records(1, split: .test, seed: 8)[0]; speed.task = "walking_speed"
        let questions = records(4, split: .test) + [speed]
        let full = try backbone().textTokenizer.encode(questions[0].prompt, addBOS: false).count
        let noLength = try backbone().textTokenizer.encode("no<end_of_turn>\n", addBOS: false).count
        for maxLength in [512, full + noLength] {
            let b = try backbone()
            let adapter = LoRAAdapter(configuration: .init(rank: 2, alpha: 4, dropout: 0.5))
            try adapter.attach(to: b)
            var rng = SeededRandom(seed: 9)
            for p in adapter.projections { for i in 0..<p.loraB.value.count { p.loraB.value.data[i] = Float(rng.nextGaussian()) * 0.05 } }
            adapter.isTraining = true  // both passes must switch dropout off themselves
            let both = try AnsweringAndRanking.evaluate(records: questions, tasks: tasks, tokenizer: b.textTokenizer, answeringWith: b,
                                                        rankingWith: b, adapter: adapter, maxNewTokens: 6, maxLength: maxLength)
            // Uncut prompts are scored from the generation's cache: the scorer's own never filled.
            #expect((b.continuationScorer.cache == nil) == (maxLength == 512))
            let greedy = try GenerationEvaluation.predict(records: questions, tasks: tasks, backbone: b, adapter: adapter, maxNewTokens: 6)
            let alone = try AnswerRanking.rank(records: questions, tasks: tasks, model: b, tokenizer: b.textTokenizer, adapter: adapter,
                                               maxLength: maxLength)
            #expect(adapter.isTraining)
            let noRoom = #expect(throws: InputError.self) {  // ranking without a length to bound it
                try AnsweringAndRanking.evaluate(records: questions, tasks: tasks, tokenizer: b.textTokenizer, answeringWith: b, rankingWith: b)
            }
            #expect(noRoom?.field == "max_length")
            #expect(both.predictions == greedy && both.predictions.count == 5)
            #expect(both.ranking.questions.map(\.record) == alone.questions.map(\.record) && both.ranking.questions.count == 4)
            #expect(both.ranking.skipped.isEmpty && alone.skipped.isEmpty)
            for (x, y) in zip(both.ranking.questions, alone.questions) {
                for (p, q) in zip(x.answers.negativeLogLikelihoods, y.answers.negativeLogLikelihoods) {
                    #expect(abs(p - q) <= 1e-4 * max(1, abs(q)), "max_length \(maxLength): \(p) vs \(q)")
                }
            }
        }
    }

    /// Calibration offsets are each class's mean over the given questions; the calibrated
    /// choice is the arg-min after subtracting them.
    @Test func calibrationCentresEachClassOnItsMean() throws {
        func question(_ task: String, _ nll: [Double]) -> AnswerRanking.RankedQuestion {
            var r = records(1)[0]; r.task = task
            return .init(record: .init(r), answers: .init(classes: ["no", "yes"], negativeLogLikelihoods: nll))
        }
        let train = [question("impaired", [1, 3]), question("impaired", [2, 5]), question("other", [7, 7])]
        let offsets = try AnswerRanking.calibrationOffsets(train)
        #expect(offsets["impaired"] == [1.5, 4] && offsets["other"] == [7, 7])
        // "no" is likelier (1.8 < 4.2) but less so than usual; centred: 0.3 > 0.2, so "yes".
        let q = question("impaired", [1.8, 4.2])
        #expect(q.answers.best() == "no" && q.answers.best(subtracting: offsets["impaired"]) == "yes")
        let p = try AnswerRanking.predictions([q, question("unseen", [0, 1])], tasks: ["impaired": YesNoTask()], offsets: offsets)
        #expect(p.ranked.count == 2 && p.calibrated.count == 1)
        #expect(p.calibrated[0].prediction == .category("yes") && p.calibrated[0].model == AnswerRanking.calibratedModelName)
        // A task whose questions list different classes (an edited rankings file) is an error.
        var odd = question("impaired", [1, 2, 3]); odd.answers.classes = ["no", "yes", "maybe"]
        #expect(throws: InputError.self) { try AnswerRanking.calibrationOffsets(train + [odd]) }
        #expect(throws: InputError.self) { try AnswerRanking.predictions([odd], tasks: [:], offsets: offsets) }
    }

    /// A question too long for `maxLength` even with its motion cut is skipped, not fatal;
    /// one that fits only when cut is scored with the same cut prompt for every answer.
    @Test func answerRankingSharesOneCutPromptAndSkipsWhatCannotFit() throws {
        let b = try backbone()
        let task = YesNoTask(), record = records(1, split: .test)[0]
        let full = b.textTokenizer.encode(record.prompt, addBOS: false).count
        // Room for the prompt and "no<end_of_turn>\n" but not "yes<end_of_turn>\n" uncut.
        let noLength = b.textTokenizer.encode("no<end_of_turn>\n", addBOS: false).count
        let cut = try #require(try AnswerRanking.score(record, task: task, model: b, tokenizer: b.textTokenizer, maxLength: full + noLength))
        // The prompt as training cuts it for the longer answer, written back as text.
        var yes = record
        yes.text = record.prompt + "yes<end_of_turn>\n"
        let cutSample = try #require(SamplePreparer(tokenizer: b.textTokenizer, maxLength: full + noLength, lossOnPrompt: false)
            .prepare([yes]).samples.first)
        #expect(cutSample.promptLength == full - 1)
        var shorter = record
        shorter.prompt = b.textTokenizer.decode(Array(cutSample.tokens[..<cutSample.promptLength]))
        #expect(b.textTokenizer.encode(shorter.prompt, addBOS: false) == Array(cutSample.tokens[..<cutSample.promptLength]))
        let reference = try #require(try AnswerRanking.score(shorter, task: task, model: b, tokenizer: b.textTokenizer, maxLength: 4096))
        for (x, y) in zip(cut.answers.negativeLogLikelihoods, reference.answers.negativeLogLikelihoods) { #expect(abs(x - y) <= 1e-4 * max(1, abs(y))) }
        let ranking = try AnswerRanking.rank(records: [record], tasks: ["impaired": task], model: b, tokenizer: b.textTokenizer, maxLength: 8)
        #expect(ranking.questions.isEmpty && ranking.skipped == [record.id])
    }

    /// The protocol's default `sequenceLosses` (one sequence at a time, input vectors split
    /// per sequence) against Gemma 3's batched override.
    @Test func defaultSequenceLossesWithVectorsEqualGemmasBatchedOnes() throws {
        let b = try backbone()
        let wrapped = UnbatchedScoring(b)
        let tokens = [[2, 70, 71, 72, 73, 74, 75], [2, 80, 81, 82]]
        let masks = [[false, false, false, true, true, true, true], [false, true, true, true]]
        var rng = SeededRandom(seed: 4)
        let width = b.model.hiddenSize
        let vectors = InputVectorRows(sequences: [0, 0, 1], indices: [2, 3, 1],
                                      values: Tensor(shape: [3, width], values: (0..<(3 * width)).map { _ in Float(rng.nextGaussian()) }))
        let batched = try b.sequenceLosses(tokens: tokens, lossMask: masks, vectors: vectors)
        let oneByOne = try wrapped.sequenceLosses(tokens: tokens, lossMask: masks, vectors: vectors)
        #expect(batched.count == 2)
        for (x, y) in zip(oneByOne, batched) { #expect(abs(x - y) <= 1e-4 * max(1, abs(y)), "\(x) vs \(y)") }
        // Their sum is the batch's mean loss times its target count.
        let (mean, count) = try b.evaluationLoss(tokens: tokens, lossMask: masks, vectors: vectors)
        #expect(abs(batched.reduce(0, +) - mean * Double(count)) <= 1e-4 * mean * Double(count))
        // Without vectors the sequences score differently: the vectors are used.
        let plain = try b.sequenceLosses(tokens: tokens, lossMask: masks, vectors: nil)
        #expect(plain[0] != batched[0] && plain[1] != batched[1])
    }
}

/// Gemma 3 seen through `TrainableLanguageModel` without its batched `sequenceLosses`, so the
/// protocol's default runs.
final class UnbatchedScoring: TrainableLanguageModel {
    let base: Gemma3LanguageBackbone
    init(_ base: Gemma3LanguageBackbone) { self.base = base }
    var projectionNames: [String] { base.projectionNames }
    func projection(named name: String) -> (any Projection)? { base.projection(named: name) }
    func replaceProjection(_ name: String, with replacement: any Projection) throws { try base.replaceProjection(name, with: replacement) }
    var parameters: [Parameter] { base.parameters }
    var trainableParameters: [Parameter] { base.trainableParameters }
    func trainingStep(tokens: [[Int]], lossMask: [[Bool]], gradScale: Float) throws -> (loss: Double, tokenCount: Int) {
        try base.trainingStep(tokens: tokens, lossMask: lossMask, gradScale: gradScale)
    }
    func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]]) throws -> (loss: Double, tokenCount: Int) {
        try base.evaluationLoss(tokens: tokens, lossMask: lossMask)
    }
    func evaluationLoss(tokens: [[Int]], lossMask: [[Bool]], vectors: InputVectorRows?) throws -> (loss: Double, tokenCount: Int) {
        try base.evaluationLoss(tokens: tokens, lossMask: lossMask, vectors: vectors)
    }
    func setTrainableEmbeddingRows(_ rows: Range<Int>) { base.setTrainableEmbeddingRows(rows) }
}

/// A regression task (no classes), to check that ranking skips it.
struct SpeedTask: TaskHead {
    var id: String { "walking_speed" }
    var kind: TaskKind { .regression }
    var classNames: [String] { [] }
    func applies(to labels: [String: LabelValue]) -> Bool { true }
    func target(from labels: [String: LabelValue]) -> LabelValue? { labels["walking_speed"] }
    func prompt(using random: inout SeededRandom) -> String { "How fast? <motion>" }
    func answer(for target: LabelValue) -> String { "\(target.number ?? 0)" }
    func parse(answer: String) -> LabelValue? { Double(answer).map(LabelValue.number) }
}
