import ArgumentParser
import BiomechCore
import BiomechRecipes

/// `biomechgpt recipe check|show FILE`.
struct RecipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe", abstract: "Validate a recipe or print it fully resolved.",
        subcommands: [Check.self, Show.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a recipe without running it: keys, types, plugin ids and parameters, stages.")
        @Argument(help: "The recipe file.") var file: String

        func run() throws {
            try reportingErrors {
                let loaded = try RecipeLoader.load(file)
                try RecipeLoader.check(loaded, registry: PluginCatalog.registry)
                try StageCatalog.pipeline.checkAvailable(loaded.recipe.stages, recipeFile: file)
                print("\(file): ok — stages \(loaded.recipe.stages.map(\.rawValue).joined(separator: " → "))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the recipe with `extends` applied.")
        @Argument(help: "The recipe file.") var file: String

        func run() throws {
            try reportingErrors { print(try RecipeLoader.load(file).yaml, terminator: "") }
        }
    }
}
