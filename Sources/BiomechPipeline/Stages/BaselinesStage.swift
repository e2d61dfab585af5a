import BiomechCore
import ClinicalTasks
import Foundation

/// `baselines`: fits each language-model-free baseline (token-histogram boosting, chance)
/// per task on the training split and predicts every split, `repeats` times with seeds
/// seed, seed+1, …; predictions go to predictions/<model>-r<k>.jsonl.
public struct BaselinesStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        let trials = try RunArtifacts.encodedTrials(d)
        let heads = try RunArtifacts.tasks(context).heads
        let progress = context.progress("baselines")
        var count = 0
        for spec in context.recipe.baselines {
            for repetition in context.repetitions {
                let records = try BaselineEvaluation.run(
                    model: spec.id, tasks: heads, trials: trials, seed: context.seed &+ UInt64(repetition),
                    repetition: repetition, progress: progress,
                    makePredictor: { try context.registry.make(.baseline, spec) as any BaselinePredictor })
                try PredictionsFile.write(records, to: RunArtifacts.predictionsDirectory(d)
                    .appendingPathComponent("\(spec.id)-r\(repetition).jsonl"))
                count += records.count
            }
        }
        return ["predictions": "\(count)"]
    }
}
