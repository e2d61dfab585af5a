import BiomechCore
import ClinicalTasks
import Foundation
import MotionData
import NumericsEngine

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
        var vectors: [String: Tensor] = [:]
        var steps = 0
        for (i, trial) in dataset.trials.enumerated() {
            guard let side = split.side(of: trial) else {
                throw InputError(file: d.splitFile.path, field: trial.participantID, "participant is in no split side")
            }
            let encoding = try tokenizer.encode(try representation.features(of: trial))
            steps += encoding.stepCount
            var record = EncodingRecord(trialID: trial.id, participantID: trial.participantID, split: side, encoding: encoding)
            if case .vectors(let count, let width, let values) = encoding {
                // Vectors go to one binary file; the JSON line keeps their shape.
                vectors[trial.id] = Tensor(shape: [count, width], values: values)
                record.vectors = nil
            }
            records.append(record)
            progress.step(i + 1, of: dataset.trials.count)
        }
        if !vectors.isEmpty {
            try Safetensors.write(vectors, to: RunArtifacts.vectorsFile(d), metadata: ["format": "biomechgpt-motion-vectors"])
        }
        try JSONLines.write(records, to: RunArtifacts.encodingsFile(d))
        return ["trials": "\(records.count)", "mean_steps": String(format: "%.1f", Double(steps) / Double(max(1, records.count)))]
    }
}
