import BiomechCore
import ClinicalTasks
import Foundation
import MotionData

/// `encode`: turns every trial into its motion encoding with the fitted tokenizer.
public struct EncodeStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        let dataset = try RunArtifacts.dataset(d)
        let split = try RunArtifacts.split(d)
        let (representation, tokenizer) = try RunArtifacts.fittedModels(context)
        let progress = context.progress("encode")
        var records: [EncodingRecord] = []
        var steps = 0
        for (i, trial) in dataset.trials.enumerated() {
            guard let side = split.side(of: trial) else {
                throw InputError(file: d.splitFile.path, field: trial.participantID, "participant is in no split side")
            }
            let encoding = try tokenizer.encode(try representation.features(of: trial))
            steps += encoding.stepCount
            records.append(EncodingRecord(trialID: trial.id, participantID: trial.participantID, split: side, encoding: encoding))
            progress.step(i + 1, of: dataset.trials.count)
        }
        try JSONLines.write(records, to: RunArtifacts.encodingsFile(d))
        return ["trials": "\(records.count)", "mean_steps": String(format: "%.1f", Double(steps) / Double(max(1, records.count)))]
    }
}
