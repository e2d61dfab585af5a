import BiomechCore
import ClinicalTasks
import Foundation
import LoRAAdapter

/// Evaluation by generation: the backbone answers each QA record's prompt greedily, each
/// task's head parses the answer, and the results are `PredictionRecord`s (model
/// `biomechgpt`), the format `Scoring` and the reports read for every model.
public enum GenerationEvaluation {
    /// The model name of greedy answers in predictions files and reports.
    public static let modelName = "biomechgpt"

    /// The text of a generated answer: decoded, cut at `<end_of_turn>` / `<eos>`, trimmed.
    public static func answerText(_ ids: [Int], tokenizer: any TextTokenizer) -> String {
        var text = tokenizer.decode(ids)
        for stop in ["<end_of_turn>", "<eos>"] {
            if let r = text.range(of: stop) { text = String(text[..<r.lowerBound]) }
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The first `maxQuestionsPerTask` records of each task (0 = all); a record of a task
    /// missing from `tasks` is an error.
    public static func select(_ records: [QARecord], tasks: [String: any TaskHead], maxQuestionsPerTask: Int) throws -> [QARecord] {
        var selected: [QARecord] = []
        var perTask: [String: Int] = [:]
        for r in records {
            guard tasks[r.task] != nil else {
                throw InputError(field: r.id, "QA record of unknown task '\(r.task)'", allowed: tasks.keys.sorted())
            }
            let n = perTask[r.task, default: 0]
            if maxQuestionsPerTask > 0 && n >= maxQuestionsPerTask { continue }
            perTask[r.task] = n + 1
            selected.append(r)
        }
        return selected
    }

    /// Greedy answers for `records`. Records of tasks missing from `tasks` are an error.
    /// `maxQuestionsPerTask` (0 = all) keeps the first N records of each task.
    /// Dropout of `adapter` (if given) is switched off for the duration.
    public static func predict(records: [QARecord], tasks: [String: any TaskHead], backbone: any LanguageBackbone,
                               adapter: LoRAAdapter? = nil, maxNewTokens: Int = 16, maxQuestionsPerTask: Int = 0,
                               model: String = modelName, repetition: Int = 0, motion: MotionVectorInputs? = nil,
                               progress: ProgressLog = .silent()) throws -> [PredictionRecord] {
        try AnsweringAndRanking.evaluate(records: records, tasks: tasks, tokenizer: backbone.textTokenizer, answeringWith: backbone,
                                         rankingWith: nil, adapter: adapter, maxNewTokens: maxNewTokens,
                                         maxQuestionsPerTask: maxQuestionsPerTask, model: model, repetition: repetition, motion: motion,
                                         progress: progress).predictions
    }

    /// `record`'s prompt as the backbone reads it (with its motion vectors, if continuous).
    static func input(_ record: QARecord, tokenizer: any TextTokenizer, motion: MotionVectorInputs?) throws -> BackboneInput {
        let prompt = tokenizer.encode(record.prompt, addBOS: false)
        return try motion?.input(tokens: prompt, trialID: record.trialID) ?? BackboneInput(tokens: prompt)
    }

    /// The prediction of `model` for `record` from its generated answer tokens.
    static func prediction(_ r: QARecord, answerIDs ids: [Int], task: any TaskHead, tokenizer: any TextTokenizer,
                           model: String, repetition: Int) -> PredictionRecord {
        let answer = answerText(ids, tokenizer: tokenizer)
        return PredictionRecord(task: r.task, trialID: r.trialID, participantID: r.participantID, split: r.split,
                                model: model, repetition: repetition, target: r.target, prediction: task.parse(answer: answer),
                                rawAnswer: answer)
    }

    /// `predict` then write the predictions JSON Lines file.
    @discardableResult
    public static func evaluate(records: [QARecord], tasks: [String: any TaskHead], backbone: any LanguageBackbone,
                                adapter: LoRAAdapter? = nil, maxNewTokens: Int = 16, maxQuestionsPerTask: Int = 0,
                                repetition: Int = 0, motion: MotionVectorInputs? = nil, output: URL,
                                progress: ProgressLog = .silent()) throws -> [PredictionRecord] {
        let p = try predict(records: records, tasks: tasks, backbone: backbone, adapter: adapter, maxNewTokens: maxNewTokens,
                            maxQuestionsPerTask: maxQuestionsPerTask, repetition: repetition, motion: motion, progress: progress)
        try PredictionsFile.write(p, to: output)
        return p
    }
}
