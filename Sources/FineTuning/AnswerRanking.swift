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
/// as multiple-choice evaluations of language models do. Regression tasks have no candidate
/// set and are skipped.
public enum AnswerRanking {
    public static let modelName = "biomechgpt-ranked"

    /// One question's candidates: each class with the summed negative log-likelihood of its
    /// answer (nats), in the task's class order.
    public struct Scores: Sendable {
        public var classes: [String]
        public var negativeLogLikelihoods: [Double]
        /// The most likely class (the first of equals).
        public var best: String {
            let i = negativeLogLikelihoods.indices.min { negativeLogLikelihoods[$0] < negativeLogLikelihoods[$1] }!
            return classes[i]
        }
    }

    /// The candidates of `record` scored by `model`. `maxLength` bounds each prompt-plus-answer
    /// sequence as training does (the motion span's middle is cut when longer).
    public static func score(_ record: QARecord, task: any TaskHead, model: any TrainableLanguageModel,
                             tokenizer: any TextTokenizer, maxLength: Int, motion: MotionVectorInputs? = nil) throws -> Scores {
        guard task.kind == .classification, !task.classNames.isEmpty else {
            throw InputError(field: record.task, "answer ranking needs a classification task with classes")
        }
        let preparer = SamplePreparer(tokenizer: tokenizer, maxLength: maxLength, lossOnPrompt: false,
                                      vectorPlaceholder: motion?.placeholderID)
        var samples: [TrainingSample] = []
        for name in task.classNames {
            var candidate = record
            candidate.answer = task.answer(for: .category(name))
            candidate.text = record.prompt + candidate.answer + "<end_of_turn>\n"
            guard let sample = preparer.prepare([candidate]).samples.first else {
                throw InputError(field: record.id, "the prompt and the answer for class '\(name)' do not fit in \(maxLength) tokens")
            }
            samples.append(sample)
        }
        // All candidates in one batch: the prompt is recomputed per candidate, but one
        // batched forward costs far less than one forward per candidate.
        let scores = try model.sequenceLosses(tokens: samples.map(\.tokens), lossMask: samples.map(\.lossMask),
                                              vectors: try motion?.rows(for: samples))
        return Scores(classes: task.classNames, negativeLogLikelihoods: scores)
    }

    /// Ranked answers for the classification records of `records` (the first
    /// `maxQuestionsPerTask` of each task; 0 = all). Dropout of `adapter` is off meanwhile.
    public static func predict(records: [QARecord], tasks: [String: any TaskHead], model: any TrainableLanguageModel,
                               tokenizer: any TextTokenizer, adapter: LoRAAdapter? = nil, maxLength: Int,
                               maxQuestionsPerTask: Int = 0, repetition: Int = 0, motion: MotionVectorInputs? = nil,
                               progress: ProgressLog = .silent()) throws -> [PredictionRecord] {
        let selected = try GenerationEvaluation.select(records, tasks: tasks, maxQuestionsPerTask: maxQuestionsPerTask)
            .filter { tasks[$0.task]!.kind == .classification }
        let wasTraining = adapter?.isTraining
        adapter?.isTraining = false
        defer { if let wasTraining { adapter?.isTraining = wasTraining } }
        var out: [PredictionRecord] = []
        for (i, r) in selected.enumerated() {
            let task = tasks[r.task]!
            let best = try score(r, task: task, model: model, tokenizer: tokenizer, maxLength: maxLength, motion: motion).best
            let prediction = LabelValue.category(best)
            out.append(PredictionRecord(task: r.task, trialID: r.trialID, participantID: r.participantID, split: r.split,
                                        model: modelName, repetition: repetition, target: r.target, prediction: prediction,
                                        rawAnswer: task.answer(for: prediction)))
            progress.step(i + 1, of: selected.count)
        }
        return out
    }
}
