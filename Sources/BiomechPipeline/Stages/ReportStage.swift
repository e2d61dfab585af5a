import BiomechCore
import ClinicalTasks
import FineTuning
import Foundation

/// `report`: scores every model's predictions in the run (baselines and the fine-tuned
/// model alike) on the test split and on the training split, and writes Markdown, CSV,
/// JSON and SVG under report/ (report/train/ for training data).
public struct ReportStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        let predictions = try PredictionsFile.readRun(d.url)
        guard !predictions.isEmpty else {
            throw InputError(file: RunArtifacts.predictionsDirectory(d).path,
                             "no predictions to report; run the 'baselines' or 'evaluate' stage first")
        }
        let infos = try RunArtifacts.tasks(context).specs.map(TaskInfo.init)
        var summary: [String: String] = [:]
        for (split, folder, title) in [(SplitSide.test, d.reportDirectory, "held-out participants (test split)"),
                                       (SplitSide.train, d.reportDirectory.appendingPathComponent("train"), "training data")] {
            let scores = try Scoring.score(predictions, tasks: infos, split: split)
            guard !scores.isEmpty else { continue }
            // The language model's columns first: greedy answers, then ranked and calibrated.
            let report = Report(scores: scores, tasks: infos, title: "\(context.recipe.name): \(title)", split: split.rawValue,
                                leadingModels: [GenerationEvaluation.modelName, AnswerRanking.modelName, AnswerRanking.calibratedModelName])
            _ = try report.write(to: folder)
            summary[split.rawValue] = "\(scores.count) scores"
            if split == .test { print(report.markdown) }
        }
        return summary
    }
}
