import ArgumentParser
import BiomechCore
import BiomechPipeline
import BiomechRecipes
import Foundation

/// `biomechgpt run RECIPE`: runs the recipe's stages into one run directory.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the stages a recipe names, writing everything under one run directory.",
        discussion: """
            A new directory runs/<name>-<timestamp>/ is created unless --run-dir names one. \
            Re-running with --run-dir on an interrupted run resumes it: completed stages are skipped \
            and training stages continue from their last checkpoint.
            """)

    @Argument(help: "The recipe file (e.g. recipes/quickstart.yaml).") var recipe: String
    @Option(name: .customLong("run-dir"), help: "Run directory to create or resume.") var runDirectory: String?
    @Option(help: "Run only these stages (comma-separated), in recipe order.") var only: String?
    @Option(help: ArgumentHelp("Run only these repeats (comma-separated, 0-based as in the r<k> file names) in the baselines, finetune and evaluate stages.",
                               discussion: "Repeats run in separate run directories can be reported together by copying their predictions/*-r<k>.jsonl files into one and running its report stage."))
    var `repeat`: String?
    @Flag(help: "Re-run stages even if they completed before.") var force = false

    func run() throws {
        try reportingErrors {
            let loaded = try RecipeLoader.load(recipe)
            try RecipeLoader.check(loaded, registry: PluginCatalog.registry)
            var stages = loaded.recipe.stages
            if let only {
                let wanted = only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                for w in wanted where Stage(rawValue: w) == nil {
                    throw InputError(field: "--only", "unknown stage '\(w)'", allowed: Stage.allCases.map(\.rawValue))
                }
                stages = stages.filter { wanted.contains($0.rawValue) }
            }
            try StageCatalog.pipeline.checkAvailable(stages, recipeFile: recipe)
            let repetitions = try `repeat`.map { try RunContext.repetitions(parsing: $0, field: "--repeat", repeats: loaded.recipe.repeats) }

            let directory: RunDirectory
            if let runDirectory, FileManager.default.fileExists(atPath: runDirectory + "/recipe.yaml") {
                directory = try RunDirectory.open(runDirectory)
                let saved = (try? String(contentsOf: directory.recipeFile, encoding: .utf8)) ?? ""
                if saved != loaded.yaml {
                    throw InputError(file: directory.recipeFile.path,
                                     "this run directory was made with a different recipe; resume with the recipe saved there, or choose a new --run-dir")
                }
                FileHandle.standardError.write(Data("resuming \(directory.url.path)\n".utf8))
            } else {
                if let runDirectory {
                    try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
                    directory = RunDirectory(url: URL(fileURLWithPath: runDirectory))
                } else {
                    directory = try RunDirectory.create(root: loaded.recipe.output, name: loaded.recipe.name)
                }
                try AtomicFile.write(loaded.yaml, to: directory.recipeFile)
                try AtomicFile.writeJSON(RunInfo(name: loaded.recipe.name, recipeFile: recipe, seed: loaded.recipe.seed,
                                                 repeats: loaded.recipe.repeats, commandLine: CommandLine.arguments,
                                                 started: Date(), threads: loaded.recipe.threads),
                                         to: directory.runInfoFile)
                FileHandle.standardError.write(Data("run directory: \(directory.url.path)\n".utf8))
            }
            let context = RunContext(recipe: loaded.recipe, directory: directory, registry: PluginCatalog.registry,
                                     repetitions: repetitions)
            try StageCatalog.pipeline.run(context, stages: stages, force: force)
            print(directory.url.path)
        }
    }
}
