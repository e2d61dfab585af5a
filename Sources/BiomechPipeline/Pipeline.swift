import BiomechCore
import BiomechRecipes
import Foundation

/// Everything a stage needs: the recipe, the run directory, the plugin registry, the
/// run's random generator and a place to report progress.
public final class RunContext: @unchecked Sendable {
    public let recipe: Recipe
    public let directory: RunDirectory
    public let registry: PluginRegistry
    public let seed: UInt64

    public init(recipe: Recipe, directory: RunDirectory, registry: PluginRegistry) {
        self.recipe = recipe; self.directory = directory; self.registry = registry; self.seed = recipe.seed
    }

    /// A generator for one named purpose, derived from the run's seed, so adding draws in
    /// one stage never changes what another stage sees.
    public func random(_ purpose: String) -> SeededRandom { SeededRandom(seed: seed).derived(purpose) }

    public func progress(_ stage: String) -> ProgressLog {
        ProgressLog(label: stage, jsonLinesFile: directory.log(stage))
    }
}

/// One stage's implementation. Stages communicate only through files in the run
/// directory, so any stage can be run (or re-run) on its own after the ones before it.
public protocol StageExecutor: Sendable {
    /// Runs the stage and returns a short summary for `stages/<stage>.json`.
    func run(_ context: RunContext) throws -> [String: String]
}

/// Runs a recipe's stages in order, skipping stages already complete in the directory.
public struct Pipeline: Sendable {
    public var executors: [Stage: any StageExecutor]

    public init(executors: [Stage: any StageExecutor]) { self.executors = executors }

    /// Checks up front that every stage the recipe names has an implementation in this
    /// build, so a run fails before doing any work rather than halfway through.
    public func checkAvailable(_ stages: [Stage], recipeFile: String) throws {
        let missing = stages.filter { executors[$0] == nil }
        if !missing.isEmpty {
            throw InputError(file: recipeFile, field: "stages",
                             "no implementation of stage \(missing.map { "'\($0.rawValue)'" }.joined(separator: ", ")) is available in this build",
                             allowed: Stage.allCases.filter { executors[$0] != nil }.map(\.rawValue))
        }
    }

    public func run(_ context: RunContext, stages: [Stage], force: Bool = false) throws {
        for stage in stages {
            guard let executor = executors[stage] else {
                throw InputError(field: "stages", "no implementation of stage '\(stage.rawValue)' is available in this build")
            }
            if !force, context.directory.isComplete(stage.rawValue) {
                FileHandle.standardError.write(Data("[\(stage.rawValue)] already complete in \(context.directory.url.path); skipping\n".utf8))
                continue
            }
            FileHandle.standardError.write(Data("[\(stage.rawValue)] starting\n".utf8))
            let start = Date()
            let summary = try executor.run(context)
            let seconds = Date().timeIntervalSince(start)
            try context.directory.markComplete(stage.rawValue, seconds: seconds, summary: summary)
            let text = summary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            FileHandle.standardError.write(Data("[\(stage.rawValue)] done in \(String(format: "%.1f", seconds)) s  \(text)\n".utf8))
        }
    }
}
