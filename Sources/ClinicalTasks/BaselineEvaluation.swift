import BiomechCore
import Foundation

/// Runs a baseline predictor (token-histogram boosting, chance) over tasks: for each task,
/// fit on the training-split trials where the task applies, predict the validation and test
/// trials — and the training trials themselves, since the paper reports scores on training
/// data too — and write the same prediction records the language model's evaluation writes.
public enum BaselineEvaluation {
    /// - Parameters:
    ///   - makePredictor: a fresh, unfitted predictor per task.
    ///   - model: the model column name in reports (`token-histogram-boosting`, `chance`).
    ///   - repetition: which repeated run this is (also mixed into the seed).
    public static func run(model: String, tasks: [any TaskHead], trials: [QATrial], seed: UInt64, repetition: Int = 0,
                           progress: ProgressLog = .silent(),
                           makePredictor: () throws -> any BaselinePredictor) throws -> [PredictionRecord] {
        var records: [PredictionRecord] = []
        for task in tasks {
            let applicable = trials.filter { task.applies(to: $0.labels) && task.target(from: $0.labels) != nil }
            let train = applicable.filter { $0.split == .train }
            let evaluate = applicable
            guard !train.isEmpty else {
                progress.note("\(model): task '\(task.id)' has no training trials; skipped")
                continue
            }
            var random = SeededRandom(seed: seed).derived("baseline/\(model)/\(task.id)/\(repetition)")
            let predictor = try makePredictor()
            progress.note("\(model): fitting '\(task.id)' on \(train.count) trials of \(Set(train.map(\.participantID)).count) participants")
            try predictor.fit(encodings: train.map(\.encoding), targets: train.map { task.target(from: $0.labels)! },
                              participants: train.map(\.participantID), task: task, random: &random, progress: progress)
            let predictions = try predictor.predict(encodings: evaluate.map(\.encoding))
            guard predictions.count == evaluate.count else {
                throw InputError(field: model, "predicted \(predictions.count) values for \(evaluate.count) trials")
            }
            for (trial, prediction) in zip(evaluate, predictions) {
                records.append(PredictionRecord(task: task.id, trialID: trial.trialID, participantID: trial.participantID,
                                                split: trial.split, model: model, repetition: repetition,
                                                target: task.target(from: trial.labels)!, prediction: prediction))
            }
        }
        return records
    }
}
