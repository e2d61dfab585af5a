import BiomechCore
import ClinicalTasks
import Foundation
import LoRAAdapter
import NumericsEngine

/// Greedy answers and ranked answers for the same questions in one pass (the evaluate
/// stage with `rank_answers`). For a classification question whose ranking prompt is the
/// greedy prompt (not cut to fit `maxLength`), a ``GenerateThenScoreModel`` scores the
/// class answers from the prompt computation its generation kept, so the prompt runs once
/// instead of twice. The greedy answers are those of ``GenerationEvaluation/predict``; the
/// likelihoods those of ``AnswerRanking/rank`` up to rounding (the prompt's keys and values
/// come from the generation's pre-fill rather than the scorer's forward).
public enum AnsweringAndRanking {
    /// Greedy predictions for `records` (the first `maxQuestionsPerTask` of each task; 0 = all)
    /// and the ranking of their classification questions (those that cannot fit `maxLength`
    /// listed as skipped). Dropout of `adapter` is off meanwhile.
    public static func evaluate(records: [QARecord], tasks: [String: any TaskHead], backbone: any LanguageBackbone,
                                scoringModel: any TrainableLanguageModel, adapter: LoRAAdapter? = nil, maxNewTokens: Int = 16,
                                maxQuestionsPerTask: Int = 0, maxLength: Int, repetition: Int = 0,
                                motion: MotionVectorInputs? = nil, sharePrompt: Bool = true,
                                progress: ProgressLog = .silent()) throws -> (predictions: [PredictionRecord], ranking: AnswerRanking.Ranking) {
        let selected = try GenerationEvaluation.select(records, tasks: tasks, maxQuestionsPerTask: maxQuestionsPerTask)
        let wasTraining = adapter?.isTraining
        adapter?.isTraining = false
        defer { if let wasTraining { adapter?.isTraining = wasTraining } }
        let tokenizer = backbone.textTokenizer
        let options = GenerationOptions(maxNewTokens: maxNewTokens, temperature: 0)
        let sharing = sharePrompt ? backbone as? any GenerateThenScoreModel : nil
        var predictions: [PredictionRecord] = [], ranking = AnswerRanking.Ranking()
        for (i, r) in selected.enumerated() {
            let task = tasks[r.task]!
            let input = try GenerationEvaluation.input(r, tokenizer: tokenizer, motion: motion)
            var ids: [Int]? = nil
            if task.kind == .classification {
                if let candidates = try AnswerRanking.candidates(prompt: r.prompt, trialID: r.trialID, task: task, tokenizer: tokenizer,
                                                                 maxLength: maxLength, motion: motion) {
                    let likelihoods: AnswerLikelihoods
                    if let sharing, candidates.prompt == input.tokens {
                        let (generated, losses) = try sharing.generateThenScore(input, options: options,
                                                                                continuations: candidates.completions) { _ in true }
                        ids = generated
                        likelihoods = AnswerLikelihoods(classes: candidates.classes, negativeLogLikelihoods: losses)
                    } else {
                        likelihoods = try AnswerRanking.likelihoods(candidates, model: scoringModel, motion: motion, sharePrompt: sharePrompt)
                    }
                    ranking.questions.append(.init(record: .init(r), answers: likelihoods))
                } else {
                    ranking.skipped.append(r.id)
                }
            }
            let answer = try ids ?? backbone.generate(input, options: options) { _ in true }
            predictions.append(GenerationEvaluation.prediction(r, answerIDs: answer, task: task, tokenizer: tokenizer,
                                                               model: GenerationEvaluation.modelName, repetition: repetition))
            progress.step(i + 1, of: selected.count,
                          [("parsed", Double(predictions.filter { $0.prediction != nil }.count) / Double(predictions.count))])
        }
        return (predictions, ranking)
    }
}
