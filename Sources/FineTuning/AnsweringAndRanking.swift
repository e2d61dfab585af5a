import BiomechCore
import ClinicalTasks
import Foundation
import LoRAAdapter
import NumericsEngine

/// The evaluation loop over QA records: greedy answers (``GenerationEvaluation``), ranked
/// class answers (``AnswerRanking``), or both in one pass. ``GenerationEvaluation/predict``
/// and ``AnswerRanking/rank`` are this loop with one of the two switched off.
///
/// In one pass, a classification question whose ranking prompt is the greedy prompt (not cut
/// to fit `maxLength`) is scored by a ``GenerateThenScoreModel`` from the prompt computation
/// its generation kept, so the prompt runs once instead of twice. The likelihoods equal
/// those of ranking alone up to rounding (the prompt's keys and values come from the
/// generation's pre-fill rather than the scorer's forward).
public enum AnsweringAndRanking {
    /// Over the first `maxQuestionsPerTask` records of each task (0 = all): with `backbone`,
    /// its greedy answer to each, parsed by the task's head (model `model`, repeat
    /// `repetition`); with `scoringModel`, the ranking of each classification question's
    /// answers, prompt and longest answer bounded by `maxLength` as training bounds them
    /// (those that cannot fit listed as skipped). Ranking alone visits only classification
    /// questions. Dropout of `adapter` is off meanwhile.
    public static func evaluate(records: [QARecord], tasks: [String: any TaskHead], tokenizer: any TextTokenizer,
                                answeringWith backbone: (any LanguageBackbone)?,
                                rankingWith scoringModel: (any TrainableLanguageModel)?,
                                adapter: LoRAAdapter? = nil, maxNewTokens: Int = 16, maxQuestionsPerTask: Int = 0,
                                maxLength: Int = 0, model: String = GenerationEvaluation.modelName, repetition: Int = 0,
                                motion: MotionVectorInputs? = nil, sharePrompt: Bool = true,
                                progress: ProgressLog = .silent()) throws -> (predictions: [PredictionRecord], ranking: AnswerRanking.Ranking) {
        if scoringModel != nil && maxLength <= 0 {
            throw InputError(field: "max_length", "ranking answers needs a positive maximum length, got \(maxLength)")
        }
        var selected = try GenerationEvaluation.select(records, tasks: tasks, maxQuestionsPerTask: maxQuestionsPerTask)
        if backbone == nil { selected = selected.filter { tasks[$0.task]!.kind == .classification } }
        let wasTraining = adapter?.isTraining
        adapter?.isTraining = false
        defer { if let wasTraining { adapter?.isTraining = wasTraining } }
        let options = GenerationOptions(maxNewTokens: maxNewTokens, temperature: 0)
        let sharing = sharePrompt && scoringModel != nil ? backbone as? any GenerateThenScoreModel : nil
        var predictions: [PredictionRecord] = [], ranking = AnswerRanking.Ranking()
        for (i, r) in selected.enumerated() {
            let task = tasks[r.task]!
            let input = try backbone.map { _ in try GenerationEvaluation.input(r, tokenizer: tokenizer, motion: motion) }
            var answerIDs: [Int]? = nil
            if let scoringModel, task.kind == .classification {
                if let candidates = try AnswerRanking.candidates(prompt: r.prompt, trialID: r.trialID, task: task, tokenizer: tokenizer,
                                                                 maxLength: maxLength, motion: motion) {
                    let likelihoods: AnswerLikelihoods
                    if let sharing, let input, candidates.prompt == input.tokens {
                        let (generated, losses) = try sharing.generateThenScore(input, options: options,
                                                                                continuations: candidates.completions) { _ in true }
                        answerIDs = generated
                        likelihoods = AnswerLikelihoods(classes: candidates.classes, negativeLogLikelihoods: losses)
                    } else {
                        likelihoods = try AnswerRanking.likelihoods(candidates, model: scoringModel, motion: motion, sharePrompt: sharePrompt)
                    }
                    ranking.questions.append(.init(record: .init(r), answers: likelihoods))
                } else {
                    ranking.skipped.append(r.id)
                }
            }
            if let backbone, let input {
                let ids = try answerIDs ?? backbone.generate(input, options: options) { _ in true }
                predictions.append(GenerationEvaluation.prediction(r, answerIDs: ids, task: task, tokenizer: tokenizer,
                                                                   model: model, repetition: repetition))
                progress.step(i + 1, of: selected.count,
                              [("parsed", Double(predictions.filter { $0.prediction != nil }.count) / Double(predictions.count))])
            } else {
                progress.step(i + 1, of: selected.count)
            }
        }
        return (predictions, ranking)
    }
}
