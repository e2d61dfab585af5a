import BiomechCore
import ClinicalTasks
import Foundation
import LoRAAdapter
import NumericsEngine

/// Evaluation by ranking a classification task's answers: for each question, the reference
/// answer of every class (`task.answer(for:)`, followed by `<end_of_turn>\n` as in training)
/// is scored by its log-likelihood given the prompt — the sum over its tokens — and the
/// most likely class is the prediction (model `biomechgpt-ranked`).
///
/// Why beside greedy answers: greedy decoding commits to one token at a time, so classes
/// whose names share a first word ("standing shoulder abduction", "standing shoulder
/// extension", …) pool their probability on that word and win it even when the model
/// prefers another class as a whole. Ranking reads the model's belief over whole answers,
/// as multiple-choice evaluations of language models do.
///
/// Calibrated ranking (model `biomechgpt-calibrated`) removes the model's leaning towards
/// some answers whatever the motion: each class's log-likelihood is centred by its mean over
/// the training split's questions of the same task before the arg-max — the batch
/// calibration of Zhou et al. (2023), estimated on training inputs and without labels.
/// Regression tasks have no candidate set and are skipped.
public enum AnswerRanking {
    public static let modelName = "biomechgpt-ranked"
    public static let calibratedModelName = "biomechgpt-calibrated"
    /// Tokens per batched forward when scoring candidates (bounds the activations' memory).
    public static let defaultBatchTokens = 8192

    /// One question with every class's summed negative log-likelihood (nats) of its answer
    /// (its tokens, `<end_of_turn>` and the newline after it), in the task's class order: a
    /// line of a rankings file.
    public struct RankedQuestion: Sendable, Codable, Equatable {
        public var record: QARecord
        public var classes: [String]
        public var negativeLogLikelihoods: [Double]

        /// The class whose answer is most likely after the shift `offsets` (subtracted per
        /// class; none = plain likelihood); the first of equals.
        public func best(subtracting offsets: [Double]? = nil) -> String {
            let x = shifted(offsets)
            return classes[x.indices.min { x[$0] < x[$1] }!]
        }

        /// Each class's probability among the task's answers, in class order: the softmax of
        /// the negative log-likelihoods after the shift `offsets`.
        public func probabilities(subtracting offsets: [Double]? = nil) -> [Double] {
            let x = shifted(offsets)
            let least = x.min() ?? 0
            let weights = x.map { Foundation.exp(least - $0) }
            let total = weights.reduce(0, +)
            return weights.map { $0 / total }
        }

        fileprivate func shifted(_ offsets: [Double]?) -> [Double] {
            offsets.map { o in zip(negativeLogLikelihoods, o).map { $0 - $1 } } ?? negativeLogLikelihoods
        }

        enum CodingKeys: String, CodingKey {
            case record, classes, negativeLogLikelihoods = "negative_log_likelihoods"
        }
    }

    /// The candidates of `record` scored by `model`, every answer after the same prompt
    /// tokens. A ``ContinuationScoringModel`` computes the prompt once for all answers;
    /// otherwise, or with `sharePrompt` false, each prompt + answer is its own sequence in
    /// batched forwards of up to `batchTokens` tokens. `maxLength` bounds each
    /// prompt-plus-answer sequence as training does: when the longest answer does not fit,
    /// the motion span's middle is cut once, for all candidates alike. Nil when even that
    /// cannot make it fit (the fine-tuning stage drops such records too).
    public static func score(_ record: QARecord, task: any TaskHead, model: any TrainableLanguageModel,
                             tokenizer: any TextTokenizer, maxLength: Int, motion: MotionVectorInputs? = nil,
                             sharePrompt: Bool = true, batchTokens: Int = defaultBatchTokens) throws -> RankedQuestion? {
        guard task.kind == .classification, !task.classNames.isEmpty else {
            throw InputError(field: record.task, "answer ranking needs a classification task with classes")
        }
        let preparer = SamplePreparer(tokenizer: tokenizer, maxLength: maxLength, lossOnPrompt: false,
                                      vectorPlaceholder: motion?.placeholderID)
        let answers = task.classNames.map { task.answer(for: .category($0)) + "<end_of_turn>\n" }
        let completions = answers.map { tokenizer.encode($0, addBOS: false) }
        // The prompt as training would cut it for the longest answer, shared by every candidate.
        let longest = completions.indices.max { completions[$0].count < completions[$1].count }!
        var widest = record
        widest.text = record.prompt + answers[longest]
        guard let shared = preparer.prepare([widest]).samples.first else { return nil }
        let prompt = Array(shared.tokens[..<shared.promptLength])
        let losses: [Double]
        if sharePrompt, let scorer = model as? any ContinuationScoringModel {
            losses = try scorer.continuationLosses(prefix: prompt, continuations: completions, prefixVectors: try motion?.rows(for: [shared]))
        } else {
            losses = try batchedLosses(prompt: prompt, completions: completions, shared: shared, model: model,
                                       motion: motion, batchTokens: batchTokens)
        }
        return RankedQuestion(record: record, classes: task.classNames, negativeLogLikelihoods: losses)
    }

    /// Every completion's loss after `prompt` as separate sequences in batched forwards of
    /// up to `batchTokens` tokens: the prompt is recomputed per candidate (for models that
    /// cannot share it, and as the reference the shared-prompt scoring is tested against).
    static func batchedLosses(prompt: [Int], completions: [[Int]], shared: TrainingSample, model: any TrainableLanguageModel,
                              motion: MotionVectorInputs?, batchTokens: Int) throws -> [Double] {
        let samples: [TrainingSample] = completions.map { completion in
            var s = shared
            s.tokens = prompt + completion
            s.lossMask = [Bool](repeating: false, count: prompt.count) + [Bool](repeating: true, count: completion.count)
            return s
        }
        var losses: [Double] = []
        var start = 0
        while start < samples.count {
            var end = start + 1, tokens = samples[start].tokens.count
            while end < samples.count && tokens + samples[end].tokens.count <= batchTokens { tokens += samples[end].tokens.count; end += 1 }
            let group = Array(samples[start..<end])
            losses += try model.sequenceLosses(tokens: group.map(\.tokens), lossMask: group.map(\.lossMask),
                                               vectors: try motion?.rows(for: group))
            start = end
        }
        return losses
    }

    /// Ranked questions, and the ids of those skipped because no answer fitted `maxLength`.
    public struct Ranking: Sendable {
        public var questions: [RankedQuestion] = []
        public var skipped: [String] = []
        public init() {}
    }

    /// Every classification record of `records` ranked (the first `maxQuestionsPerTask` of
    /// each task; 0 = all). Dropout of `adapter` is off meanwhile.
    public static func rank(records: [QARecord], tasks: [String: any TaskHead], model: any TrainableLanguageModel,
                            tokenizer: any TextTokenizer, adapter: LoRAAdapter? = nil, maxLength: Int,
                            maxQuestionsPerTask: Int = 0, motion: MotionVectorInputs? = nil,
                            progress: ProgressLog = .silent()) throws -> Ranking {
        let selected = try GenerationEvaluation.select(records, tasks: tasks, maxQuestionsPerTask: maxQuestionsPerTask)
            .filter { tasks[$0.task]!.kind == .classification }
        let wasTraining = adapter?.isTraining
        adapter?.isTraining = false
        defer { if let wasTraining { adapter?.isTraining = wasTraining } }
        var out = Ranking()
        for (i, r) in selected.enumerated() {
            if let q = try score(r, task: tasks[r.task]!, model: model, tokenizer: tokenizer, maxLength: maxLength, motion: motion) {
                out.questions.append(q)
            } else {
                out.skipped.append(r.id)
            }
            progress.step(i + 1, of: selected.count)
        }
        return out
    }

    /// Per task, each class's mean negative log-likelihood over `questions` (the training
    /// split's): the calibration offsets. Questions of one task must list the same classes.
    public static func calibrationOffsets(_ questions: [RankedQuestion]) throws -> [String: [Double]] {
        var sums: [String: [Double]] = [:], counts: [String: Int] = [:], classes: [String: [String]] = [:]
        for q in questions {
            let task = q.record.task
            guard q.negativeLogLikelihoods.count == q.classes.count else {
                throw InputError(field: q.record.id, "\(q.classes.count) classes but \(q.negativeLogLikelihoods.count) negative log-likelihoods")
            }
            guard classes[task, default: q.classes] == q.classes else {
                throw InputError(field: q.record.id, "ranked question's classes \(q.classes) differ from the task's \(classes[task] ?? [])")
            }
            classes[task] = q.classes
            sums[task] = zip(sums[task] ?? [Double](repeating: 0, count: q.classes.count), q.negativeLogLikelihoods).map { $0 + $1 }
            counts[task, default: 0] += 1
        }
        return sums.reduce(into: [:]) { out, entry in out[entry.key] = entry.value.map { $0 / Double(counts[entry.key]!) } }
    }

    /// A readable table of one question's answers, most likely first: each class's
    /// probability among the task's answers and, with `offsets`, its calibrated probability.
    public static func table(_ question: RankedQuestion, offsets: [Double]? = nil) throws -> String {
        if let offsets, offsets.count != question.classes.count {
            throw InputError(field: question.record.task, "\(question.classes.count) classes, but \(offsets.count) calibration offsets")
        }
        let plain = question.probabilities()
        let calibrated = offsets.map { question.probabilities(subtracting: $0) }
        // Ordered by the (shifted) log-likelihoods: probabilities round to ties.
        let key = question.shifted(offsets)
        let order = question.classes.indices.sorted { key[$0] < key[$1] }
        let width = max(5, question.classes.map(\.count).max() ?? 0)
        func pad(_ text: String) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        func number(_ p: Double) -> String { String(format: "%.3f", p) }
        var lines = ["  " + pad("class") + "  probability" + (calibrated == nil ? "" : "  calibrated") + "  −log-likelihood"]
        for i in order {
            var line = "  " + pad(question.classes[i]) + "  " + number(plain[i]).padding(toLength: 11, withPad: " ", startingAt: 0)
            if let calibrated { line += "  " + number(calibrated[i]).padding(toLength: 10, withPad: " ", startingAt: 0) }
            lines.append(line + "  " + String(format: "%.3f", question.negativeLogLikelihoods[i]))
        }
        return lines.joined(separator: "\n")
    }

    /// Predictions from ranked questions: `biomechgpt-ranked` for every question and
    /// `biomechgpt-calibrated` for questions of tasks that have offsets.
    public static func predictions(_ questions: [RankedQuestion], tasks: [String: any TaskHead],
                                   offsets: [String: [Double]], repetition: Int = 0) throws -> (ranked: [PredictionRecord], calibrated: [PredictionRecord]) {
        var ranked: [PredictionRecord] = [], calibrated: [PredictionRecord] = []
        func record(_ q: RankedQuestion, _ model: String, _ best: String) -> PredictionRecord {
            let r = q.record, prediction = LabelValue.category(best)
            return PredictionRecord(task: r.task, trialID: r.trialID, participantID: r.participantID, split: r.split, model: model,
                                    repetition: repetition, target: r.target, prediction: prediction,
                                    rawAnswer: tasks[r.task]?.answer(for: prediction))
        }
        for q in questions {
            ranked.append(record(q, modelName, q.best()))
            if let o = offsets[q.record.task] {
                guard o.count == q.classes.count else {
                    throw InputError(field: q.record.id, "\(q.classes.count) classes, but \(o.count) calibration offsets for task '\(q.record.task)'")
                }
                calibrated.append(record(q, calibratedModelName, q.best(subtracting: o)))
            }
        }
        return (ranked, calibrated)
    }
}
