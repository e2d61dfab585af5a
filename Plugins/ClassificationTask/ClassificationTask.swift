import BiomechCore
import ClinicalTasks

/// A classification task configured entirely by its YAML file: which label, where it
/// applies, the classes and the phrases naming them, prompt templates, the answer template
/// and the headline metric (macro F1 by default).
public struct ClassificationTask: SpecifiedTask {
    public let spec: TaskSpec

    public init(spec: TaskSpec) throws {
        guard spec.taskKind == .classification else {
            throw InputError(field: "\(spec.id).kind", "expected a classification task, got '\(spec.kind)'")
        }
        self.spec = spec
    }

    public static let descriptor = TaskSpec.descriptor(
        for: .classification, summary: "a classification task from YAML (classes with synonyms, prompts, answer template; F1)")

    public static func make(_ parameters: PluginParameters) throws -> ClassificationTask {
        try ClassificationTask(spec: TaskSpec.fromParameters(parameters, kind: .classification))
    }
}
