import BiomechCore
import BiomechRecipes
import Foundation
import MotionData

/// `tokenizer`: fits the representation's normalisation and trains the tokenizer on the
/// training split only (validation features are used for reporting). Resumable: training
/// continues from the newest checkpoint in artifacts/tokenizer/checkpoints.
public struct TokenizerStage: StageExecutor {
    public init() {}

    public func run(_ context: RunContext) throws -> [String: String] {
        let d = context.directory
        guard let tokenizerSpec = context.recipe.tokenizer else {
            throw InputError(file: d.recipeFile.path, field: "tokenizer", "the recipe names no tokenizer")
        }
        let dataset = try RunArtifacts.dataset(d)
        let parts = try RunArtifacts.split(d).partition(dataset.trials)
        let training = parts[.train] ?? [], validation = parts[.validation] ?? []
        let representation: any MotionRepresentation = try context.registry.make(.representation, context.recipe.representation)
        try representation.fit(training: training)
        let trainFeatures = try training.map { try representation.features(of: $0) }
        let validationFeatures = try validation.map { try representation.features(of: $0) }
        let tokenizer: any Tokenizer = try context.registry.make(.tokenizer, tokenizerSpec)
        try tokenizer.train(training: trainFeatures, validation: validationFeatures,
                            checkpointDirectory: RunArtifacts.tokenizerCheckpoints(d), progress: context.progress("tokenizer"))
        try representation.save(to: RunArtifacts.representationDirectory(d))
        try tokenizer.save(to: RunArtifacts.tokenizerDirectory(d))
        return ["training_trials": "\(training.count)", "channels": "\(representation.channelNames.count)"]
    }
}
