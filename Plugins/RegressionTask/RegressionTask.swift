import BiomechCore
import ClinicalTasks

/// A regression task configured entirely by its YAML file: which numeric label, where it
/// applies, prompt templates, the answer template with its unit and precision, and the
/// headline metric (Pearson r by default). Answers are read back by their first number.
public struct RegressionTask: SpecifiedTask {
    public let spec: TaskSpec

    public init(spec: TaskSpec) throws {
        guard spec.taskKind == .regression else {
            throw InputError(field: "\(spec.id).kind", "expected a regression task, got '\(spec.kind)'")
        }
        self.spec = spec
    }

    public static let descriptor = TaskSpec.descriptor(
        for: .regression, summary: "a regression task from YAML (number with unit and precision; Pearson r)")

    public static func make(_ parameters: PluginParameters) throws -> RegressionTask {
        try RegressionTask(spec: TaskSpec.fromParameters(parameters, kind: .regression))
    }
}
