import BiomechCore
import BiomechPipeline
import BiomechRecipes
import Foundation

/// One repeat of a fine-tuned run, as `ask` and `bench rank` use it: the run's saved recipe
/// and the repeat's adapter folder, checked at once; the model on demand (``loadModel()``).
struct FineTunedRun {
    let directory: RunDirectory
    let recipe: Recipe
    let context: RunContext
    /// The repeat's `adapter` folder (also holds a continuous-motion projection).
    let adapterDirectory: URL
    let repetition: Int

    init(_ path: String, repetition: Int) throws {
        directory = try RunDirectory.open(path)
        recipe = try RecipeLoader.load(directory.recipeFile.path).recipe
        context = RunContext(recipe: recipe, directory: directory, registry: PluginCatalog.registry)
        adapterDirectory = RunArtifacts.fineTuneDirectory(directory, repetition: repetition).appendingPathComponent("adapter")
        guard FileManager.default.fileExists(atPath: adapterDirectory.path) else {
            throw InputError(file: adapterDirectory.path, "no fine-tuned adapter here; run the 'finetune' stage of this run first")
        }
        self.repetition = repetition
    }

    /// The backbone with the motion tokens and the adapter, the repeat's trained adapter
    /// weights loaded, dropout off.
    func loadModel() throws -> AdaptedBackbone {
        let model = try AdaptedBackbone.build(context, repetition: repetition)
        try model.adapter.load(from: adapterDirectory)
        model.lora.isTraining = false
        return model
    }

    /// The evaluate stage's length limit: the recipe's max_length within the backbone's context.
    func maxLength(_ model: AdaptedBackbone) -> Int { min(recipe.training.maxLength, model.backbone.contextLength) }
}
