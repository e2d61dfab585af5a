import ArgumentParser
import BiomechCore
import BiomechPipeline
import ClinicalTasks
import FineTuning
import Foundation
import MotionData

extension BenchCommand {
    /// Answer ranking with the prompt computed once for all of a question's answers against
    /// each prompt + answer as its own sequence, on a fine-tuned run's own questions.
    struct Rank: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer ranking with a shared prompt against one sequence per answer, on a run's questions.")
        @Option(name: .customLong("run"), help: "A run directory that completed the finetune stage.") var runDirectory: String
        @Option(name: .customLong("repeat"), help: "Which repeated training run's adapter to use.") var repetition = 0
        @Option(help: "Classification questions per task of the test split to rank (the first ones).") var questions = 10

        func validate() throws {
            try OptionChecks.atLeast(0, repetition, "--repeat")
            try OptionChecks.atLeast(1, questions, "--questions")
        }

        func run() throws {
            try reportingErrors {
                let run = try FineTunedRun(runDirectory, repetition: repetition)
                let heads = Dictionary(uniqueKeysWithValues: try RunArtifacts.tasks(run.context).heads.map { ($0.id, $0) })
                let selected = try GenerationEvaluation.select(
                    RunArtifacts.qaRecords(run.directory).filter { $0.split == .test && heads[$0.task]?.kind == .classification },
                    tasks: heads, maxQuestionsPerTask: questions)
                guard !selected.isEmpty else {
                    throw InputError(file: run.directory.url.path, "the run has no classification questions in its test split")
                }
                let model = try run.loadModel(), maxLength = run.maxLength(model)
                let motion = try model.motionInputs(MotionArtifacts(run.directory))
                try motion?.load(from: run.adapterDirectory)
                func rankAll(sharing: Bool) throws -> (seconds: Double, scores: [[Double]?]) {
                    let clock = ContinuousClock(), start = clock.now
                    let scores = try selected.map { r in
                        try AnswerRanking.score(r, task: heads[r.task]!, model: model.trainable, tokenizer: model.backbone.textTokenizer,
                                                maxLength: maxLength, motion: motion, sharePrompt: sharing)?.answers.negativeLogLikelihoods
                    }
                    return ((clock.now - start).inSeconds, scores)
                }
                FileHandle.standardError.write(Data("ranking \(selected.count) questions both ways (after one warm-up question each)…\n".utf8))
                for sharing in [false, true] {
                    _ = try AnswerRanking.score(selected[0], task: heads[selected[0].task]!, model: model.trainable,
                                                tokenizer: model.backbone.textTokenizer, maxLength: maxLength, motion: motion, sharePrompt: sharing)
                }
                let separate = try rankAll(sharing: false)
                let shared = try rankAll(sharing: true)
                // Questions too long for max_length are skipped by both paths alike.
                let pairs = zip(shared.scores, separate.scores).compactMap { a, b in a.flatMap { a in b.map { (a, $0) } } }
                guard !pairs.isEmpty else { throw InputError(field: "max_length", "no question of the run fits its max_length") }
                var worst = 0.0, sameChoice = 0
                for (a, b) in pairs {
                    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
                    if let i = a.indices.min(by: { a[$0] < a[$1] }), let j = b.indices.min(by: { b[$0] < b[$1] }), i == j { sameChoice += 1 }
                }
                let n = Double(pairs.count)
                print(String(format: "one sequence per answer  %8.1f ms/question", separate.seconds / n * 1000))
                print(String(format: "shared prompt            %8.1f ms/question", shared.seconds / n * 1000))
                print(String(format: "speed-up                 %8.2f×", separate.seconds / shared.seconds))
                print(String(format: "largest relative difference of an answer's −log-likelihood: %.2e", worst))
                print("same most likely answer: \(sameChoice) of \(pairs.count) questions"
                      + (pairs.count < selected.count ? " (\(selected.count - pairs.count) too long for max_length skipped)" : ""))
            }
        }
    }
}
