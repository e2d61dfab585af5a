import BiomechCore
import BiomechRecipes
import ClinicalTasks
import Foundation
import LoRAAdapter
import NumericsEngine

/// Trainer settings: the recipe's `training:` section plus run-level choices. The recipe
/// settings' defaults are `TrainingSection`'s (the paper's), stated there once.
public struct FineTuningOptions: Sendable {
    public var epochs: Double
    public var learningRate: Double
    public var batchSize: Int
    public var gradientAccumulation: Int
    public var maxLength: Int
    public var warmupRatio: Double
    public var schedule: LearningRateSchedule.Decay
    public var weightDecay: Double
    public var lossOnPrompt: Bool
    /// Optimizer steps between checkpoints (0: only the final state is saved).
    public var checkpointEvery: Int
    /// Optimizer steps between validation losses (0: only at the end).
    public var validationEvery: Int
    /// Global gradient-norm clipping (≤ 0: none).
    public var maxGradNorm: Double
    /// Validation samples used for the periodic loss (the first N; 0 = all).
    public var maxValidationSamples: Int = 256
    /// Completed checkpoints kept on disk (older ones are removed).
    public var keepCheckpoints: Int = 2
    public var seed: UInt64
    /// Stop (as if interrupted) after this many optimizer steps in this call; for tests and
    /// for splitting a long run over several sessions. nil: run to the end.
    public var stopAfterSteps: Int?

    /// The paper's defaults.
    public init() { self.init(TrainingSection(), seed: 0) }

    /// The recipe's training section.
    public init(_ t: TrainingSection, seed: UInt64) {
        epochs = t.epochs; learningRate = t.learningRate; batchSize = t.batchSize
        gradientAccumulation = t.gradientAccumulation; maxLength = t.maxLength; warmupRatio = t.warmupRatio
        switch t.schedule {
        case .cosine: schedule = .cosine
        case .linear: schedule = .linear
        case .constant: schedule = .constant
        }
        weightDecay = t.weightDecay; lossOnPrompt = t.lossOnPrompt; checkpointEvery = t.checkpointEvery
        validationEvery = t.validationEvery; maxGradNorm = t.maxGradNorm
        self.seed = seed
    }

    /// Optimizer steps for `samples` training samples: ⌈epochs · samples / (batch · accumulation)⌉.
    public func totalSteps(samples: Int) -> Int {
        let perStep = Double(batchSize * gradientAccumulation)
        return Swift.max(1, Int((epochs * Double(samples) / perStep).rounded(.up)))
    }

    public var warmupSteps: (Int) -> Int { { total in Int((warmupRatio * Double(total)).rounded(.up)) } }
}

/// One line of the training log (`training_log.jsonl`).
public struct TrainingLogEntry: Sendable, Codable, Equatable {
    public var step: Int
    public var loss: Double?
    public var validationLoss: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    public var tokens: Int?
    public var tokensPerSecond: Double?
    public var elapsedSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case step, loss, validationLoss = "validation_loss", learningRate = "learning_rate", gradNorm = "grad_norm"
        case tokens, tokensPerSecond = "tokens_per_s", elapsedSeconds = "elapsed_s"
    }
}

/// What a training run produced.
public struct FineTuningResult: Sendable {
    public var completedSteps: Int
    public var totalSteps: Int
    public var finished: Bool
    public var resumedFromStep: Int?
    public var finalTrainingLoss: Double?
    public var finalValidationLoss: Double?
    public var preparation: SamplePreparationReport
    /// The adapter directory written at the end (nil when stopped early).
    public var adapterDirectory: URL?
}

/// Checkpoint contents besides the adapter files and the optimizer moments.
struct TrainerState: Codable, Equatable {
    var step: Int
    var totalSteps: Int
    var samplePosition: Int
    var optimizerSteps: Int
    var sampleCount: Int
    var seed: UInt64
    var dropoutStates: [String: SeededRandom]
    var elapsedSeconds: Double
    /// Continuous motion's trained modules (`MotionVectorInputs.trainedModules`); nil for tokens.
    var motionModules: String? = nil
}

/// Supervised fine-tuning of an adapted causal language model on QA records.
///
/// Data: QA records are tokenized by `SamplePreparer` (truncation and loss mask there).
/// Order: each epoch is a permutation of the samples drawn from the seed
/// (`derived("fine-tuning/epoch-e")`), consumed as one stream of micro-batches of
/// `batchSize`; `epochs` may be fractional (1.2 → ⌈1.2·N / (batch·accumulation)⌉ optimizer
/// steps). Each optimizer step sums `gradientAccumulation` micro-batches with gradient scale
/// 1/accumulation (the mean of the micro-batch mean losses), clips the global norm, then
/// takes an AdamW step (β 0.9/0.999, ε 1e-8) at the schedule's rate (linear warm-up over
/// ⌈warmup_ratio · steps⌉, then cosine or linear decay to 0).
///
/// Files under `outputDirectory`:
/// - `training_log.jsonl`: one line per optimizer step and per validation;
/// - `loss_curve.svg`: training loss (and validation points) against step;
/// - `checkpoints/step-NNNNNN/`: `adapter_model.safetensors` + `adapter_config.json` (PEFT,
///   with the added token rows), `optimizer.safetensors` (AdamW moments), `trainer_state.json`
///   (step, data position, optimizer step count, dropout generators); each directory is
///   written under a temporary name and renamed when complete;
/// - `adapter/`: the final adapter.
///
/// Resume (`train(resume: true)`) restores the newest complete checkpoint and continues;
/// the result is bit-identical to an uninterrupted run with the same thread count.
public final class FineTuner {
    public let model: any TrainableLanguageModel
    public let adapter: LoRAAdapter
    public let tokenizer: any TextTokenizer
    public var options: FineTuningOptions
    public let outputDirectory: URL
    public var progress: ProgressLog
    /// Continuous motion (the continuous-encoder baseline): vectors at the `<motion_vec>`
    /// placeholders through a projection trained with the adapter. nil for motion tokens.
    public let motion: MotionVectorInputs?

    public init(model: any TrainableLanguageModel, adapter: LoRAAdapter, tokenizer: any TextTokenizer,
                options: FineTuningOptions, outputDirectory: URL, progress: ProgressLog = .silent(),
                motion: MotionVectorInputs? = nil) {
        self.model = model; self.adapter = adapter; self.tokenizer = tokenizer
        self.options = options; self.outputDirectory = outputDirectory; self.progress = progress
        self.motion = motion
    }

    public var checkpointsDirectory: URL { outputDirectory.appendingPathComponent("checkpoints") }
    public var logURL: URL { outputDirectory.appendingPathComponent("training_log.jsonl") }
    public var adapterDirectory: URL { outputDirectory.appendingPathComponent("adapter") }

    /// Trains on `train` (validating on `validation`), resuming from the newest checkpoint
    /// when `resume` is true and one exists.
    public func train(_ train: [QARecord], validation: [QARecord] = [], resume: Bool = true) throws -> FineTuningResult {
        let preparer = SamplePreparer(tokenizer: tokenizer, maxLength: options.maxLength, lossOnPrompt: options.lossOnPrompt,
                                      vectorPlaceholder: motion?.placeholderID)
        let (samples, report) = preparer.prepare(train)
        guard !samples.isEmpty else {
            throw InputError(field: "training", "no training samples fit max_length \(options.maxLength) (\(report.dropped) dropped)")
        }
        var validationSamples = preparer.prepare(validation).samples
        if options.maxValidationSamples > 0 { validationSamples = Array(validationSamples.prefix(options.maxValidationSamples)) }
        if report.dropped > 0 || report.truncated > 0 {
            progress.note("\(report.truncated) sample(s) had their motion span shortened, \(report.dropped) dropped (max_length \(options.maxLength))")
        }
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(report, to: outputDirectory.appendingPathComponent("sample_preparation.json"))

        let total = options.totalSteps(samples: samples.count)
        let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: options.warmupSteps(total),
                                            totalSteps: total, decay: options.schedule)
        let parameters = adapter.trainableParameters + (motion?.parameters ?? [])
        let optimizer = AdamW(learningRate: Float(options.learningRate), beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
                              weightDecay: Float(options.weightDecay))
        var order = SampleOrder(count: samples.count, seed: options.seed)

        var step = 0, samplePosition = 0, elapsedBefore = 0.0
        var resumedFrom: Int? = nil
        var log: [TrainingLogEntry] = (try? Self.readLog(logURL)) ?? []
        if resume, let checkpoint = try latestCheckpoint() {
            let state = try restore(from: checkpoint, parameters: parameters, optimizer: optimizer)
            guard state.step >= 0, state.step <= state.totalSteps, state.samplePosition >= 0 else {
                throw InputError(file: checkpoint.path, field: "trainer_state.json",
                                 "step \(state.step) of \(state.totalSteps) at sample \(state.samplePosition): expected 0 ≤ step ≤ total_steps and sample_position ≥ 0")
            }
            guard state.sampleCount == samples.count, state.totalSteps == total, state.seed == options.seed else {
                throw InputError(file: checkpoint.path, "the checkpoint was made for \(state.sampleCount) samples, \(state.totalSteps) steps, seed \(state.seed); " +
                                 "this run has \(samples.count), \(total), \(options.seed)")
            }
            step = state.step; samplePosition = state.samplePosition; elapsedBefore = state.elapsedSeconds
            resumedFrom = step
            log = log.filter { $0.step <= step }
            progress.note("resuming from \(checkpoint.lastPathComponent)")
        } else {
            log = []
            try? FileManager.default.removeItem(at: checkpointsDirectory)
            try motion?.prepareProjection(trainingTrials: samples.map(\.trialID), targetRMS: model.inputEmbeddingRMS)
        }
        try writeLog(log)
        for p in parameters { p.zeroGrad() }
        adapter.isTraining = true

        let started = Date()
        var stepsThisCall = 0
        var lastLoss: Double? = log.last(where: { $0.loss != nil })?.loss
        var lastValidation: Double? = log.last(where: { $0.validationLoss != nil })?.validationLoss
        let accumulation = options.gradientAccumulation
        while step < total {
            if let stop = options.stopAfterSteps, stepsThisCall >= stop { break }
            let stepStart = Date()
            var lossSum = 0.0, targetSum = 0, tokenSum = 0
            for _ in 0..<accumulation {
                var batch: [TrainingSample] = []
                for _ in 0..<options.batchSize {
                    let s = samples[order.sample(at: samplePosition)]
                    samplePosition += 1
                    batch.append(s)
                    tokenSum += s.tokens.count
                }
                let (loss, count) = try microBatchStep(batch, gradScale: 1 / Float(accumulation))
                lossSum += loss * Double(count); targetSum += count
            }
            let rate = schedule.rate(atStep: step)
            let norm: Float = options.maxGradNorm > 0
                ? GradientClipping.clipGlobalNorm(parameters, maxNorm: Float(options.maxGradNorm))
                : GradientClipping.globalNorm(parameters)
            optimizer.learningRate = rate
            optimizer.step(parameters)
            for p in parameters { p.zeroGrad() }
            step += 1; stepsThisCall += 1
            let seconds = Date().timeIntervalSince(stepStart)
            let loss = targetSum > 0 ? lossSum / Double(targetSum) : 0
            lastLoss = loss
            let entry = TrainingLogEntry(step: step, loss: loss, learningRate: Double(rate), gradNorm: Double(norm),
                                         tokens: tokenSum, tokensPerSecond: Double(tokenSum) / Swift.max(seconds, 1e-9),
                                         elapsedSeconds: elapsedBefore + Date().timeIntervalSince(started))
            log.append(entry)
            try appendLog(entry)
            progress.step(step, of: total, [("loss", loss), ("lr", Double(rate)), ("tok/s", entry.tokensPerSecond ?? 0)])

            let last = step == total
            if !validationSamples.isEmpty && (last || (options.validationEvery > 0 && step % options.validationEvery == 0)) {
                let v = try validationLoss(validationSamples)
                lastValidation = v
                let ventry = TrainingLogEntry(step: step, validationLoss: v)
                log.append(ventry)
                try appendLog(ventry)
                progress.note("step \(step): validation loss \(String(format: "%.4f", v))")
            }
            if options.checkpointEvery > 0 && (step % options.checkpointEvery == 0 || last) {
                let state = TrainerState(step: step, totalSteps: total, samplePosition: samplePosition,
                                         optimizerSteps: optimizer.stepCount, sampleCount: samples.count, seed: options.seed,
                                         dropoutStates: dropoutStates(),
                                         elapsedSeconds: elapsedBefore + Date().timeIntervalSince(started),
                                         motionModules: motion?.trainedModules)
                try writeCheckpoint(state, optimizer: optimizer)
                try AtomicFile.write(LossCurve.svg(log), to: outputDirectory.appendingPathComponent("loss_curve.svg"))
            }
        }
        let finished = step == total
        try AtomicFile.write(LossCurve.svg(log), to: outputDirectory.appendingPathComponent("loss_curve.svg"))
        var written: URL? = nil
        // A finished run resumed without new steps keeps the adapter it saved: rewriting the
        // same weights would make the evaluation's predictions look stale.
        if finished && stepsThisCall == 0, try adapterIsNewerThanLatestCheckpoint() {
            written = adapterDirectory
        } else if finished {
            try adapter.save(to: adapterDirectory)
            try motion?.save(to: adapterDirectory)
            written = adapterDirectory
        }
        adapter.isTraining = false
        return FineTuningResult(completedSteps: step, totalSteps: total, finished: finished, resumedFromStep: resumedFrom,
                                finalTrainingLoss: lastLoss, finalValidationLoss: lastValidation, preparation: report,
                                adapterDirectory: written)
    }

    /// Forward, loss and backward of one micro-batch; with continuous motion, the vectors go
    /// through the projection first and the model's input-vector gradient back through it.
    private func microBatchStep(_ batch: [TrainingSample], gradScale: Float) throws -> (loss: Double, tokenCount: Int) {
        guard let motion, let vectors = try motion.rows(for: batch) else {
            return try model.trainingStep(tokens: batch.map(\.tokens), lossMask: batch.map(\.lossMask), gradScale: gradScale)
        }
        let result = try model.trainingStep(tokens: batch.map(\.tokens), lossMask: batch.map(\.lossMask), gradScale: gradScale,
                                            vectors: vectors)
        if result.tokenCount > 0 {
            guard let g = model.inputVectorGradient, g.rowCount == vectors.count else {
                throw InputError(field: "vectors", "the model returned no gradient for its input vectors")
            }
            try motion.backward(batch, gradient: g)
        }
        return result
    }

    /// Token-weighted mean loss over `samples`, dropout off.
    public func validationLoss(_ samples: [TrainingSample]) throws -> Double {
        let wasTraining = adapter.isTraining
        adapter.isTraining = false
        defer { adapter.isTraining = wasTraining }
        var sum = 0.0, count = 0
        var i = 0
        while i < samples.count {
            let batch = samples[i..<Swift.min(samples.count, i + options.batchSize)]
            let vectors = try motion?.rows(for: Array(batch))
            let (loss, n) = try model.evaluationLoss(tokens: batch.map(\.tokens), lossMask: batch.map(\.lossMask), vectors: vectors)
            sum += loss * Double(n); count += n
            i += options.batchSize
        }
        return count > 0 ? sum / Double(count) : .nan
    }

    // MARK: Checkpoints

    func dropoutStates() -> [String: SeededRandom] {
        Dictionary(uniqueKeysWithValues: adapter.projections.map { ($0.name, $0.random) })
    }

    /// Completed checkpoint directories, oldest first.
    public func checkpoints() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsDirectory.path)) ?? []
        return names.filter { $0.hasPrefix("step-") && !$0.contains(".tmp") }.sorted()
            .map { checkpointsDirectory.appendingPathComponent($0) }
    }

    public func latestCheckpoint() throws -> URL? { checkpoints().last }

    /// Whether every file the adapter (and motion projection) saves exists and was written
    /// after the newest checkpoint, so it holds that checkpoint's weights.
    private func adapterIsNewerThanLatestCheckpoint() throws -> Bool {
        guard let checkpoint = try latestCheckpoint() else { return false }
        let checkpointFiles = (try? FileManager.default.contentsOfDirectory(at: checkpoint, includingPropertiesForKeys: nil)) ?? []
        var saved = ["adapter_model.safetensors", "adapter_config.json"]
        if let motion { saved += [MotionVectorInputs.fileName] + (motion.encoder == nil ? [] : [MotionVectorInputs.encoderFileName]) }
        return saved.allSatisfy { FileDates.isCurrent(adapterDirectory.appendingPathComponent($0), after: checkpointFiles) }
    }

    func writeCheckpoint(_ state: TrainerState, optimizer: AdamW) throws {
        let name = String(format: "step-%07d", state.step)
        let final = checkpointsDirectory.appendingPathComponent(name)
        let temporary = checkpointsDirectory.appendingPathComponent(
            ".\(name).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        let fm = FileManager.default
        try? fm.removeItem(at: temporary)
        try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
        try adapter.save(to: temporary)
        try motion?.save(to: temporary)
        try Safetensors.write(optimizer.stateTensors(), to: temporary.appendingPathComponent("optimizer.safetensors"),
                              metadata: ["step_count": String(optimizer.stepCount)])
        try AtomicFile.writeJSON(state, to: temporary.appendingPathComponent("trainer_state.json"))
        try? fm.removeItem(at: final)
        if rename(temporary.path, final.path) != 0 {
            throw InputError(file: final.path, "could not move the finished checkpoint into place (errno \(errno))")
        }
        let all = checkpoints()
        for old in all.dropLast(Swift.max(1, options.keepCheckpoints)) { try? fm.removeItem(at: old) }
    }

    func restore(from directory: URL, parameters: [Parameter], optimizer: AdamW) throws -> TrainerState {
        let stateURL = directory.appendingPathComponent("trainer_state.json")
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL)) } catch {
            throw InputError(file: stateURL.path, "unreadable trainer state: \(error)")
        }
        guard state.motionModules == motion?.trainedModules else {
            throw InputError(file: directory.path, "the checkpoint trained \(state.motionModules ?? "no motion modules"); this run trains \(motion?.trainedModules ?? "none")")
        }
        try adapter.load(from: directory)
        try motion?.load(from: directory)
        let optimizerURL = directory.appendingPathComponent("optimizer.safetensors")
        try optimizer.loadState(Safetensors.read(optimizerURL), stepCount: state.optimizerSteps, parameters: parameters,
                                file: optimizerURL.path)
        for p in adapter.projections {
            guard let r = state.dropoutStates[p.name] else {
                throw InputError(file: stateURL.path, field: p.name, "no dropout generator state for this module")
            }
            p.random = r
        }
        return state
    }

    // MARK: Log

    /// Lenient where `JSONLines.read` is strict: a line torn by a killed process is skipped.
    static func readLog(_ url: URL) throws -> [TrainingLogEntry] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(TrainingLogEntry.self, from: Data($0)) }
    }

    private func writeLog(_ entries: [TrainingLogEntry]) throws { try JSONLines.write(entries, to: logURL) }

    private func appendLog(_ entry: TrainingLogEntry) throws {
        let data = try JSONLines.encode([entry])
        let handle = try FileHandle(forWritingTo: logURL)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }
}

/// The seeded sample order: epoch `e` is a Fisher–Yates permutation from
/// `SeededRandom(seed).derived("fine-tuning/epoch-e")`; position `p` of the stream is
/// sample `perm_{p / N}[p % N]`. Stateless given the seed, so a resumed run needs only the
/// position.
struct SampleOrder {
    let count: Int
    let seed: UInt64
    private var epoch = -1
    private var permutation: [Int] = []

    init(count: Int, seed: UInt64) { self.count = count; self.seed = seed }

    mutating func sample(at position: Int) -> Int {
        let e = position / count
        if e != epoch {
            var rng = SeededRandom(seed: seed).derived("fine-tuning/epoch-\(e)")
            permutation = Array(0..<count)
            if count > 1 {
                for i in stride(from: count - 1, to: 0, by: -1) {
                    let j = rng.nextInt(below: i + 1)
                    permutation.swapAt(i, j)
                }
            }
            epoch = e
        }
        return permutation[position % count]
    }
}
