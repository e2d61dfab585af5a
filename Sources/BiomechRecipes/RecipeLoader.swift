import BiomechCore
import Foundation

/// A recipe file resolved (`extends` applied) and decoded.
public struct LoadedRecipe: Sendable {
    public var file: String
    public var resolved: ConfigValue
    public var recipe: Recipe

    /// The resolved recipe as YAML (what `recipe show` prints and runs save).
    public var yaml: String { YAMLWriter.write(resolved) }
}

public enum RecipeLoader {
    public static func load(_ path: String) throws -> LoadedRecipe {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw InputError(file: path, "no recipe file here (recipes live in recipes/, e.g. recipes/quickstart.yaml)")
        }
        let resolved = try RecipeResolver.resolve(file: url)
        let recipe = try ConfigDecoder.decode(Recipe.self, from: resolved)
        return LoadedRecipe(file: path, resolved: resolved, recipe: recipe)
    }

    /// Checks everything that can be checked without running: the schema (by loading),
    /// every plugin id and parameter against the registry, and stage prerequisites.
    public static func check(_ loaded: LoadedRecipe, registry: PluginRegistry) throws {
        let r = loaded.recipe
        try registry.validate(.representation, r.representation)
        if let t = r.tokenizer { try registry.validate(.tokenizer, t) }
        if let b = r.backbone { try registry.validate(.backbone, b) }
        if let a = r.adapter { try registry.validate(.adapter, a) }
        for b in r.baselines { try registry.validate(.baseline, b) }
        let at = loaded.resolved["stages"] ?? loaded.resolved
        func need(_ stage: Stage, _ section: String, _ present: Bool) throws {
            if r.stages.contains(stage), !present {
                throw at.error(field: "stages", "stage '\(stage.rawValue)' needs a '\(section)' section")
            }
        }
        try need(.tokenizer, "tokenizer", r.tokenizer != nil)
        try need(.encode, "tokenizer", r.tokenizer != nil)
        try need(.finetune, "backbone", r.backbone != nil)
        try need(.finetune, "adapter", r.adapter != nil)
        try need(.qa, "tasks", !r.tasks.isEmpty)
        var seenTasks = Set<String>()
        for task in r.tasks where !seenTasks.insert(task).inserted {
            throw (loaded.resolved["tasks"] ?? at).error(field: "tasks", "task '\(task)' is listed twice")
        }
        try need(.baselines, "baselines", !r.baselines.isEmpty)
        if r.repeats < 1 { throw (loaded.resolved["repeats"] ?? at).error(field: "repeats", "expected at least 1") }
        if r.threads < 1 { throw (loaded.resolved["threads"] ?? at).error(field: "threads", "expected at least 1") }
        try checkTraining(r.training, section: loaded.resolved["training"] ?? at)
    }

    /// Values the trainer cannot run with, reported at the recipe line that set them.
    static func checkTraining(_ t: TrainingSection, section: ConfigValue) throws {
        func require(_ ok: Bool, _ key: String, _ expected: String) throws {
            guard !ok else { return }
            throw (section[key] ?? section).error(field: "training.\(key)", "expected \(expected)")
        }
        // Upper bounds keep the step count (epochs · samples / batch) an Int.
        try require(t.epochs.isFinite && t.epochs > 0 && t.epochs <= 10_000, "epochs", "a positive number of epochs, at most 10000")
        try require(t.learningRate.isFinite && t.learningRate > 0, "learning_rate", "a positive number")
        try require(t.batchSize >= 1 && t.batchSize <= 65_536, "batch_size", "1 to 65536")
        try require(t.gradientAccumulation >= 1 && t.gradientAccumulation <= 65_536, "gradient_accumulation", "1 to 65536")
        try require(t.maxLength >= 2, "max_length", "at least 2 tokens")
        try require(t.warmupRatio.isFinite && t.warmupRatio >= 0 && t.warmupRatio <= 1, "warmup_ratio", "a fraction in [0, 1]")
        try require(t.weightDecay.isFinite && t.weightDecay >= 0, "weight_decay", "a non-negative number")
        try require(t.checkpointEvery >= 0, "checkpoint_every", "0 or more steps")
        try require(t.validationEvery >= 0, "validation_every", "0 or more steps")
        try require(t.maxGradNorm.isFinite, "max_grad_norm", "a number (≤ 0: no clipping)")
    }
}
