import BiomechCore
import BiomechRecipes
import CohortSimulator
import Foundation
import MotionData

/// `data`: simulates, imports or opens the data set, saves it in the run directory and
/// splits it by participant (seeded). The split is shared by every later stage.
public struct DataStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let section = context.recipe.data
        let recipeFile = context.directory.recipeFile.path
        let dataset: MotionDataset
        switch section.source {
        case .synthetic:
            dataset = try CohortSimulator.generate(CohortConfiguration(participants: section.participants, seed: context.seed))
        case .file:
            dataset = try HDF5Store.read(URL(fileURLWithPath: section.path ?? ""))
        case .import:
            guard let format = ImportFormat(rawValue: section.format ?? "") else {
                throw InputError(file: recipeFile, field: "data.format", "unknown import format '\(section.format ?? "")'",
                                 allowed: ImportFormat.allCases.map(\.rawValue))
            }
            var imported = try Importers.importFiles(format: format, inputs: section.inputs.map { URL(fileURLWithPath: $0) })
            if let labels = section.labels {
                try LabelTable.read(URL(fileURLWithPath: labels)).apply(to: &imported)
            }
            dataset = imported
        }
        try HDF5Store.write(dataset, to: RunArtifacts.datasetFile(context.directory))
        let split = try ParticipantSplit.make(dataset, train: context.recipe.split.train,
                                              validation: context.recipe.split.validation, seed: context.seed)
        try split.save(to: context.directory.splitFile)
        return ["trials": "\(dataset.trials.count)", "participants": "\(dataset.participantIDs.count)",
                "train": "\(split.train.count)", "validation": "\(split.validation.count)", "test": "\(split.test.count)"]
    }
}
