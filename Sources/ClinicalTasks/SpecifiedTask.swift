import BiomechCore

/// A task head configured by a `TaskSpec` (both shipped heads are). Reports and the QA
/// builder use the spec for the headline metric, the unit and the class order.
public protocol SpecifiedTask: TaskHead {
    var spec: TaskSpec { get }
}

extension SpecifiedTask {
    public var id: String { spec.id }
    public var kind: TaskKind { spec.taskKind }
    public var classNames: [String] { spec.classNames }
    public func applies(to labels: [String: LabelValue]) -> Bool { spec.applies(to: labels) }
    public func target(from labels: [String: LabelValue]) -> LabelValue? { spec.target(from: labels) }
    public func prompt(using random: inout SeededRandom) -> String { spec.prompt(using: &random) }
    public func answer(for target: LabelValue) -> String { spec.answer(for: target) }
    public func parse(answer: String) -> LabelValue? { spec.parse(answer: answer) }
}

extension TaskSpec {
    /// The keys of a task file as plugin parameters (for `biomechgpt plugins`).
    static func parameterSpecs(for kind: TaskKind) -> [ParameterSpec] {
        var specs = [
            ParameterSpec("kind", kind.rawValue, default: nil, "the task implementation"),
            ParameterSpec("label", "string", default: nil, "the label field of the data set holding the truth"),
            ParameterSpec("description", "string", default: "null", "one line about the task"),
            ParameterSpec("dataset", "string", default: "null", "the data set the task is written for"),
            ParameterSpec("applies_when", "{label: value | [values]}", default: "{}", "label conditions that must all hold"),
            ParameterSpec("prompts", "[string]", default: nil, "question templates, each with <motion> once"),
        ]
        switch kind {
        case .classification:
            specs += [
                ParameterSpec("classes", "{class: [phrases]}", default: nil, "classes (label values) with the phrases that name them"),
                ParameterSpec("answer", "string", default: nil, "reference answer with {class}"),
                ParameterSpec("metric", "macro_f1|weighted_f1|accuracy", default: "macro_f1", "the headline metric"),
            ]
        case .regression:
            specs += [
                ParameterSpec("answer", "string", default: nil, "reference answer with {value} (and {unit})"),
                ParameterSpec("precision", "int", default: "2", "decimal places in reference answers"),
                ParameterSpec("unit", "string", default: "null", "unit of the value, for {unit} and plots"),
                ParameterSpec("metric", "pearson_r|mae", default: "pearson_r", "the headline metric"),
            ]
        }
        return specs
    }

    /// Reads a task plugin's parameters (a task file's root mapping) as a spec of `kind`.
    public static func fromParameters(_ parameters: PluginParameters, kind: TaskKind) throws -> TaskSpec {
        guard let section = parameters.section else {
            throw InputError(field: parameters.path, "a \(kind.rawValue) task needs its YAML keys (id, label, prompts, answer, ...)")
        }
        let spec = try TaskSpec(config: section)
        guard spec.taskKind == kind else {
            throw (section["kind"] ?? section).error(field: "kind", "expected kind '\(kind.rawValue)', got '\(spec.kind)'")
        }
        return spec
    }

    public static func descriptor(for kind: TaskKind, summary: String) -> PluginDescriptor {
        PluginDescriptor(id: kind.rawValue, kind: .task, summary: summary, parameters: parameterSpecs(for: kind))
    }
}
