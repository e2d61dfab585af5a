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

    /// A ranked question as a line of a rankings file: the QA record's identity and target
    /// (not its prompt) and its answers' likelihoods, side by side in one JSON object.
    public struct RankedQuestion: Sendable, Codable, Equatable {
        public var record: Record
        public var answers: AnswerLikelihoods

        /// What a rankings line keeps of its QA record: enough to score the question.
        /// The keys are the QA record's, so older lines holding whole records still read.
        public struct Record: Sendable, Codable, Equatable {
            public var id: String
            public var trialID: String
            public var participantID: String
            public var split: SplitSide
            public var task: String
            public var target: LabelValue

            public init(_ r: QARecord) {
                id = r.id; trialID = r.trialID; participantID = r.participantID; split = r.split; task = r.task; target = r.target
            }

            enum CodingKeys: String, CodingKey {
                case id, trialID = "trial_id", participantID = "participant_id", split, task, target
            }
        }

        public init(record: Record, answers: AnswerLikelihoods) {
            self.record = record; self.answers = answers
        }

        public init(from decoder: any Decoder) throws {
            record = try decoder.container(keyedBy: CodingKeys.self).decode(Record.self, forKey: .record)
            answers = try AnswerLikelihoods(from: decoder)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(record, forKey: .record)
            try answers.encode(to: encoder)
        }

        enum CodingKeys: String, CodingKey { case record }
    }

    /// A question's answer candidates as the model is asked to score them: the prompt as
    /// training would cut it for the longest answer (`sample`, shared by every candidate)
    /// and each class's answer followed by `<end_of_turn>\n`, tokenized.
    public struct Candidates: Sendable {
        public var classes: [String]
        public var completions: [[Int]]
        public var sample: TrainingSample
        /// The prompt's tokens, motion cut where it had to be.
        public var prompt: [Int] { Array(sample.tokens[..<sample.promptLength]) }
    }

    /// The candidates of `task` after `prompt` (`trialID` names the motion vectors of a
    /// continuous representation). `maxLength` bounds each prompt-plus-answer sequence as
    /// training does: when the longest answer does not fit, the motion span's middle is cut
    /// once, for all candidates alike. Nil when even that cannot make it fit (the
    /// fine-tuning stage drops such records too).
    public static func candidates(prompt: String, trialID: String, task: any TaskHead, tokenizer: any TextTokenizer,
                                  maxLength: Int, motion: MotionVectorInputs? = nil) throws -> Candidates? {
        guard task.kind == .classification, !task.classNames.isEmpty else {
            throw InputError(field: task.id, "answer ranking needs a classification task with classes")
        }
        let preparer = SamplePreparer(tokenizer: tokenizer, maxLength: maxLength, lossOnPrompt: false,
                                      vectorPlaceholder: motion?.placeholderID)
        let answers = task.classNames.map { task.answer(for: .category($0)) + "<end_of_turn>\n" }
        let completions = answers.map { tokenizer.encode($0, addBOS: false) }
        let longest = completions.indices.max { completions[$0].count < completions[$1].count }!
        guard let (sample, _) = preparer.sample(id: trialID, trialID: trialID, prompt: prompt, completion: answers[longest]) else {
            return nil
        }
        return Candidates(classes: task.classNames, completions: completions, sample: sample)
    }

    /// `candidates` scored by `model`. A ``ContinuationScoringModel`` computes the prompt once
    /// for all answers; otherwise, or with `sharePrompt` false, each prompt + answer is its
    /// own sequence in batched forwards of up to `batchTokens` tokens.
    public static func likelihoods(_ candidates: Candidates, model: any TrainableLanguageModel, motion: MotionVectorInputs? = nil,
                                   sharePrompt: Bool = true, batchTokens: Int = defaultBatchTokens) throws -> AnswerLikelihoods {
        let shared = candidates.sample, prompt = candidates.prompt
        let losses: [Double]
        if sharePrompt, let scorer = model as? any ContinuationScoringModel {
            losses = try scorer.continuationLosses(prefix: prompt, continuations: candidates.completions,
                                                   prefixVectors: try motion?.rows(for: [shared]))
        } else {
            losses = try batchedLosses(prompt: prompt, completions: candidates.completions, shared: shared, model: model,
                                       motion: motion, batchTokens: batchTokens)
        }
        return AnswerLikelihoods(classes: candidates.classes, negativeLogLikelihoods: losses)
    }

    /// The candidate answers of `task` after `prompt` scored by `model`: ``candidates(prompt:trialID:task:tokenizer:maxLength:motion:)``
    /// then ``likelihoods(_:model:motion:sharePrompt:batchTokens:)``; nil when the question
    /// cannot fit `maxLength`.
    public static func likelihoods(prompt: String, trialID: String, task: any TaskHead,
                                   model: any TrainableLanguageModel, tokenizer: any TextTokenizer, maxLength: Int,
                                   motion: MotionVectorInputs? = nil, sharePrompt: Bool = true,
                                   batchTokens: Int = defaultBatchTokens) throws -> AnswerLikelihoods? {
        try candidates(prompt: prompt, trialID: trialID, task: task, tokenizer: tokenizer, maxLength: maxLength, motion: motion)
            .map { try likelihoods($0, model: model, motion: motion, sharePrompt: sharePrompt, batchTokens: batchTokens) }
    }

    /// `record`'s question ranked: ``likelihoods(prompt:trialID:task:model:tokenizer:maxLength:motion:sharePrompt:batchTokens:)``
    /// of its prompt and trial.
    public static func score(_ record: QARecord, task: any TaskHead, model: any TrainableLanguageModel,
                             tokenizer: any TextTokenizer, maxLength: Int, motion: MotionVectorInputs? = nil,
                             sharePrompt: Bool = true, batchTokens: Int = defaultBatchTokens) throws -> RankedQuestion? {
        try likelihoods(prompt: record.prompt, trialID: record.trialID, task: task, model: model, tokenizer: tokenizer,
                        maxLength: maxLength, motion: motion, sharePrompt: sharePrompt, batchTokens: batchTokens)
            .map { RankedQuestion(record: .init(record), answers: $0) }
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
        try AnsweringAndRanking.evaluate(records: records, tasks: tasks, tokenizer: tokenizer, answeringWith: nil, rankingWith: model,
                                         adapter: adapter, maxQuestionsPerTask: maxQuestionsPerTask, maxLength: maxLength,
                                         motion: motion, progress: progress).ranking
    }

    /// Per task, each class's mean negative log-likelihood over `questions` (the training
    /// split's): the calibration offsets. Questions of one task must list the same classes.
    public static func calibrationOffsets(_ questions: [RankedQuestion]) throws -> [String: [Double]] {
        var sums: [String: [Double]] = [:], counts: [String: Int] = [:], classes: [String: [String]] = [:]
        for q in questions {
            let task = q.record.task, a = q.answers
            guard a.negativeLogLikelihoods.count == a.classes.count else {
                throw InputError(field: q.record.id, "\(a.classes.count) classes but \(a.negativeLogLikelihoods.count) negative log-likelihoods")
            }
            guard classes[task, default: a.classes] == a.classes else {
                throw InputError(field: q.record.id, "ranked question's classes \(a.classes) differ from the task's \(classes[task] ?? [])")
            }
            classes[task] = a.classes
            sums[task] = zip(sums[task] ?? [Double](repeating: 0, count: a.classes.count), a.negativeLogLikelihoods).map { $0 + $1 }
            counts[task, default: 0] += 1
        }
        return sums.reduce(into: [:]) { out, entry in out[entry.key] = entry.value.map { $0 / Double(counts[entry.key]!) } }
    }

    /// A readable table of one question's answers, most likely first: each class's
    /// probability among the task's answers and, with `offsets`, its calibrated probability.
    public static func table(_ answers: AnswerLikelihoods, offsets: [Double]? = nil) throws -> String {
        if let offsets, offsets.count != answers.classes.count {
            throw InputError(field: "calibration offsets", "\(answers.classes.count) classes, but \(offsets.count) offsets")
        }
        let plain = answers.probabilities()
        let calibrated = offsets.map { answers.probabilities(subtracting: $0) }
        // Ordered by the (shifted) log-likelihoods: probabilities round to ties.
        let key = answers.shifted(offsets)
        let order = answers.classes.indices.sorted { key[$0] < key[$1] }
        let width = max(5, answers.classes.map(\.count).max() ?? 0)
        func pad(_ text: String) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        func number(_ p: Double) -> String { String(format: "%.3f", p) }
        var lines = ["  " + pad("class") + "  probability" + (calibrated == nil ? "" : "  calibrated") + "  −log-likelihood"]
        for i in order {
            var line = "  " + pad(answers.classes[i]) + "  " + number(plain[i]).padding(toLength: 11, withPad: " ", startingAt: 0)
            if let calibrated { line += "  " + number(calibrated[i]).padding(toLength: 10, withPad: " ", startingAt: 0) }
            lines.append(line + "  " + String(format: "%.3f", answers.negativeLogLikelihoods[i]))
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
            ranked.append(record(q, modelName, q.answers.best()))
            if let o = offsets[q.record.task] {
                guard o.count == q.answers.classes.count else {
                    throw InputError(field: q.record.id, "\(q.answers.classes.count) classes, but \(o.count) calibration offsets for task '\(q.record.task)'")
                }
                calibrated.append(record(q, calibratedModelName, q.answers.best(subtracting: o)))
            }
        }
        return (ranked, calibrated)
    }
}
