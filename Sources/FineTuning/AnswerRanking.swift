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
/// Calibrated ranking (model `biomechgpt-calibrated`) subtracts from each answer's
/// log-likelihood its log-likelihood after the same question with the motion span emptied
/// (`<motion_start><motion_end>`): what the motion adds to each answer, net of how much the
/// model favours the answer's wording whatever the motion (the "domain-conditional PMI" of
/// Holtzman et al., 2021, with the motion-free prompt as the domain premise). It uses no
/// labels. Regression tasks have no candidate set and are skipped.
public enum AnswerRanking {
    public static let modelName = "biomechgpt-ranked"
    public static let calibratedModelName = "biomechgpt-calibrated"
    /// Tokens per batched forward when scoring candidates (bounds the activations' memory).
    public static let defaultBatchTokens = 8192

    /// One question's candidates, in the task's class order, with the summed negative
    /// log-likelihood of each class's answer (nats) after the prompt and after the
    /// motion-free prompt.
    public struct Scores: Sendable {
        public var classes: [String]
        public var negativeLogLikelihoods: [Double]
        public var motionFreeNegativeLogLikelihoods: [Double]

        /// The most likely class (the first of equals).
        public var best: String { classes[Self.argmin(negativeLogLikelihoods)] }
        /// The class whose likelihood the motion raises most (the first of equals).
        public var calibratedBest: String {
            classes[Self.argmin(zip(negativeLogLikelihoods, motionFreeNegativeLogLikelihoods).map { $0 - $1 })]
        }

        static func argmin(_ x: [Double]) -> Int { x.indices.min { x[$0] < x[$1] }! }
    }

    /// `prompt` with the interior of its motion span removed; nil when it has no span.
    public static func motionFreePrompt(_ prompt: String) -> String? {
        guard let start = prompt.range(of: MotionText.start),
              let end = prompt.range(of: MotionText.end, range: start.upperBound..<prompt.endIndex) else { return nil }
        return String(prompt[..<start.upperBound]) + String(prompt[end.lowerBound...])
    }

    /// The candidates of `record` scored by `model`, all in one batch. `maxLength` bounds
    /// each prompt-plus-answer sequence as training does (the motion span's middle is cut).
    public static func score(_ record: QARecord, task: any TaskHead, model: any TrainableLanguageModel,
                             tokenizer: any TextTokenizer, maxLength: Int, motion: MotionVectorInputs? = nil,
                             batchTokens: Int = defaultBatchTokens) throws -> Scores {
        guard task.kind == .classification, !task.classNames.isEmpty else {
            throw InputError(field: record.task, "answer ranking needs a classification task with classes")
        }
        guard let motionFree = motionFreePrompt(record.prompt) else {
            throw InputError(field: record.id, "the prompt has no \(MotionText.start)…\(MotionText.end) span to calibrate against")
        }
        let preparer = SamplePreparer(tokenizer: tokenizer, maxLength: maxLength, lossOnPrompt: false,
                                      vectorPlaceholder: motion?.placeholderID)
        var samples: [TrainingSample] = []
        for prompt in [record.prompt, motionFree] {
            for name in task.classNames {
                var candidate = record
                candidate.prompt = prompt
                candidate.answer = task.answer(for: .category(name))
                candidate.text = prompt + candidate.answer + "<end_of_turn>\n"
                guard let sample = preparer.prepare([candidate]).samples.first else {
                    throw InputError(field: record.id, "the prompt and the answer for class '\(name)' do not fit in \(maxLength) tokens")
                }
                samples.append(sample)
            }
        }
        // Candidates in batched forwards of up to `batchTokens` tokens: the prompt is
        // recomputed per candidate, which costs far less than a forward per candidate.
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
        let n = task.classNames.count
        return Scores(classes: task.classNames, negativeLogLikelihoods: Array(losses[..<n]),
                      motionFreeNegativeLogLikelihoods: Array(losses[n...]))
    }

    /// Ranked and calibrated answers for the classification records of `records` (the first
    /// `maxQuestionsPerTask` of each task; 0 = all): two predictions per question, models
    /// `biomechgpt-ranked` and `biomechgpt-calibrated`. Dropout of `adapter` is off meanwhile.
    public static func predict(records: [QARecord], tasks: [String: any TaskHead], model: any TrainableLanguageModel,
                               tokenizer: any TextTokenizer, adapter: LoRAAdapter? = nil, maxLength: Int,
                               maxQuestionsPerTask: Int = 0, repetition: Int = 0, motion: MotionVectorInputs? = nil,
                               progress: ProgressLog = .silent()) throws -> (ranked: [PredictionRecord], calibrated: [PredictionRecord]) {
        let selected = try GenerationEvaluation.select(records, tasks: tasks, maxQuestionsPerTask: maxQuestionsPerTask)
            .filter { tasks[$0.task]!.kind == .classification }
        let wasTraining = adapter?.isTraining
        adapter?.isTraining = false
        defer { if let wasTraining { adapter?.isTraining = wasTraining } }
        var ranked: [PredictionRecord] = [], calibrated: [PredictionRecord] = []
        for (i, r) in selected.enumerated() {
            let task = tasks[r.task]!
            let scores = try score(r, task: task, model: model, tokenizer: tokenizer, maxLength: maxLength, motion: motion)
            for (name, best) in [(modelName, scores.best), (calibratedModelName, scores.calibratedBest)] {
                let prediction = LabelValue.category(best)
                let record = PredictionRecord(task: r.task, trialID: r.trialID, participantID: r.participantID, split: r.split,
                                              model: name, repetition: repetition, target: r.target, prediction: prediction,
                                              rawAnswer: task.answer(for: prediction))
                if name == modelName { ranked.append(record) } else { calibrated.append(record) }
            }
            progress.step(i + 1, of: selected.count)
        }
        return (ranked, calibrated)
    }
}
