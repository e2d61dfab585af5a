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
    /// The repeats (0-based, as in the r<k> file names) that per-repeat stages run: all of
    /// the recipe's unless `run --repeat` chose some, so repeats can run on separate
    /// machines and their predictions be reported together.
    public let repetitions: [Int]

    /// `repetitions` must lie in 0..<recipe.repeats (checked by the caller); nil means all.
    public init(recipe: Recipe, directory: RunDirectory, registry: PluginRegistry, repetitions: [Int]? = nil) {
        self.recipe = recipe; self.directory = directory; self.registry = registry; self.seed = recipe.seed
        self.repetitions = repetitions ?? Array(0..<recipe.repeats)
    }

    /// Parses a choice of repeats such as "1,2": distinct indices in 0..<repeats, sorted.
    public static func repetitions(parsing text: String, field: String, repeats: Int) throws -> [Int] {
        var chosen: [Int] = []
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            let word = piece.trimmingCharacters(in: .whitespaces)
            guard let k = Int(word), (0..<repeats).contains(k) else {
                throw InputError(field: field, "'\(word)' is not a repeat of this recipe; expected comma-separated numbers from 0 to \(repeats - 1) "
                                 + "(the recipe has repeats: \(repeats); repeat k writes the r<k> files)")
            }
            if !chosen.contains(k) { chosen.append(k) }
        }
        return chosen.sorted()
    }

    /// True when per-repeat stages run only some of the recipe's repeats.
    public var runsSomeRepeats: Bool { repetitions != Array(0..<recipe.repeats) }

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
            // A per-repeat stage run for some repeats is recorded per repeat (stages/finetune-r1.json):
            // it is complete for a later run when every repeat that run asks for is.
            let repeatMarkers = context.repetitions.map { "\(stage.rawValue)-r\($0)" }
            let markers = stage.runsOncePerRepeat && context.runsSomeRepeats ? repeatMarkers : [stage.rawValue]
            let complete = context.directory.isComplete(stage.rawValue)
                || (stage.runsOncePerRepeat && repeatMarkers.allSatisfy(context.directory.isComplete))
            if !force, complete {
                FileHandle.standardError.write(Data("[\(stage.rawValue)] already complete in \(context.directory.url.path); skipping\n".utf8))
                continue
            }
            FileHandle.standardError.write(Data("[\(stage.rawValue)] starting\n".utf8))
            let start = Date()
            let summary = try executor.run(context)
            let seconds = Date().timeIntervalSince(start)
            for marker in markers { try context.directory.markComplete(marker, seconds: seconds, summary: summary) }
            let text = summary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            FileHandle.standardError.write(Data("[\(stage.rawValue)] done in \(String(format: "%.1f", seconds)) s  \(text)\n".utf8))
        }
    }
}
