import BiomechCore
import BiomechRecipes
import Foundation

/// The placeholder in a prompt template where the motion span goes.
public let motionPlaceholder = "<motion>"

/// The headline metric of a task (all metrics are computed; this one fills the tables).
public enum TaskMetric: String, Sendable, Codable, CaseIterable {
    case macroF1 = "macro_f1", weightedF1 = "weighted_f1", accuracy
    case pearsonR = "pearson_r", mae

    public var kind: TaskKind {
        switch self {
        case .macroF1, .weightedF1, .accuracy: return .classification
        case .pearsonR, .mae: return .regression
        }
    }

    public static func allowed(for kind: TaskKind) -> [TaskMetric] { allCases.filter { $0.kind == kind } }

    /// Whether a larger value is better (MAE is the exception).
    public var higherIsBetter: Bool { self != .mae }

    /// A short column title (`F1 (macro)`, `Pearson r`).
    public var title: String {
        switch self {
        case .macroF1: return "F1 (macro)"
        case .weightedF1: return "F1 (weighted)"
        case .accuracy: return "accuracy"
        case .pearsonR: return "Pearson r"
        case .mae: return "MAE"
        }
    }
}

/// One class of a classification task: the label value in the data, the phrase used in
/// reference answers, and every phrase a generated answer may use for it.
public struct TaskClass: Sendable, Equatable, Codable {
    /// The value as the data set writes it (`sit_to_stand`, `non_freezer`).
    public var name: String
    /// Written in reference answers: the first synonym, or the name with `_` as spaces.
    public var display: String
    /// Phrases accepted when parsing (the name and display are always included).
    public var synonyms: [String]

    public init(name: String, display: String? = nil, synonyms: [String] = []) {
        self.name = name
        self.display = display ?? synonyms.first ?? name.replacingOccurrences(of: "_", with: " ")
        var phrases = synonyms
        for p in [self.display, name] where !phrases.contains(p) { phrases.insert(p, at: 0) }
        self.synonyms = phrases
    }
}

/// A clinical task as its YAML file describes it. See docs/adding-a-task.md.
///
/// ```yaml
/// id: diagnosis
/// kind: classification
/// label: diagnosis
/// applies_when: { impaired: yes }
/// classes:
///   stroke: [stroke, hemiparesis]
/// prompts: ["What is the diagnosis of this person? <motion>"]
/// answer: "The diagnosis is {class}."
/// metric: macro_f1
/// ```
public struct TaskSpec: Sendable {
    public var id: String
    /// The implementation (`classification`, `regression`): a task plugin id.
    public var kind: String
    /// Classification or regression, which decides answers, parsing and metrics.
    public var taskKind: TaskKind
    public var label: String
    public var summary: String?
    /// The data set the task is written for (`simulated`, `uiprmd`, `fgdi`), informational.
    public var dataset: String?
    /// Label conditions that must all hold for the task to be asked: label → accepted values.
    public var appliesWhen: [(label: String, values: [String])]
    public var classes: [TaskClass]
    public var prompts: [String]
    /// The reference answer template with `{class}` or `{value}` (and optionally `{unit}`).
    public var answer: String
    /// Decimal places of numbers in reference answers.
    public var precision: Int
    public var unit: String?
    public var metric: TaskMetric
    /// The YAML the spec was read from (the task plugin's parameters).
    public var source: ConfigValue?

    public static let commonKeys = ["id", "kind", "label", "description", "dataset", "applies_when", "prompts", "answer", "metric"]
    public static let classificationKeys = commonKeys + ["classes"]
    public static let regressionKeys = commonKeys + ["precision", "unit"]
    /// The task kinds this module knows how to validate.
    public static let knownKinds = ["classification", "regression"]

    public init(id: String, kind: TaskKind, label: String, summary: String? = nil, dataset: String? = nil,
                appliesWhen: [(label: String, values: [String])] = [], classes: [TaskClass] = [],
                prompts: [String], answer: String, precision: Int = 2, unit: String? = nil,
                metric: TaskMetric? = nil) {
        self.id = id; self.kind = kind.rawValue; self.taskKind = kind; self.label = label
        self.summary = summary; self.dataset = dataset; self.appliesWhen = appliesWhen; self.classes = classes
        self.prompts = prompts; self.answer = answer; self.precision = precision; self.unit = unit
        self.metric = metric ?? (kind == .classification ? .macroF1 : .pearsonR); self.source = nil
    }

    /// Parses and validates a task file's root mapping. Every error names the file, line,
    /// column and key, and lists the allowed keys or values.
    public init(config root: ConfigValue) throws {
        let file = root.location?.file
        guard root.entries != nil else {
            throw root.error(field: nil, "a task file must be a mapping of keys (id, kind, label, ...), got \(root.kindName)")
        }
        func required(_ key: String) throws -> ConfigValue {
            guard let v = root[key], !v.isNull else {
                throw InputError(file: file, line: root.location?.line, column: root.location?.column,
                                 field: key, "missing required key '\(key)'")
            }
            return v
        }
        func text(_ key: String) throws -> String {
            let v = try required(key)
            guard let s = v.stringValue, !s.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw v.error(field: key, "expected a non-empty string, got \(v.kindName)")
            }
            return s
        }
        func optionalText(_ key: String) throws -> String? {
            guard let v = root[key], !v.isNull else { return nil }
            guard let s = v.stringValue else { throw v.error(field: key, "expected a string, got \(v.kindName)") }
            return s
        }

        let kindValue = try required("kind")
        let kindText = try text("kind")
        guard let kind = TaskKind(rawValue: kindText) else {
            throw kindValue.error(field: "kind", "unknown task kind '\(kindText)'", allowed: Self.knownKinds)
        }
        _ = try root.checkedEntries(field: "", allowed: kind == .classification ? Self.classificationKeys : Self.regressionKeys)

        let idValue = try required("id")
        let id = try text("id")
        guard id.unicodeScalars.allSatisfy({ CharacterSet.lowercaseLetters.contains($0) || CharacterSet.decimalDigits.contains($0) || $0 == "_" }),
              id.unicodeScalars.first.map({ CharacterSet.lowercaseLetters.contains($0) }) == true else {
            throw idValue.error(field: "id", "a task id must start with a lowercase letter and use only a-z, 0-9 and _, got '\(id)'")
        }
        let label = try text("label")

        var conditions: [(label: String, values: [String])] = []
        if let when = root["applies_when"], !when.isNull {
            guard let entries = when.entries else {
                throw when.error(field: "applies_when", "expected a mapping of label → accepted value(s), got \(when.kindName)")
            }
            for entry in entries {
                let values: [String]
                if let s = entry.value.stringValue { values = [s] } else if let items = entry.value.elements, !items.isEmpty {
                    values = try items.map { item in
                        guard let s = item.stringValue else { throw item.error(field: "applies_when.\(entry.key)", "expected a label value, got \(item.kindName)") }
                        return s
                    }
                } else {
                    throw entry.value.error(field: "applies_when.\(entry.key)", "expected a label value or a list of accepted values, got \(entry.value.kindName)")
                }
                conditions.append((entry.key, values))
            }
        }

        let promptsValue = try required("prompts")
        let promptItems: [ConfigValue]
        if promptsValue.stringValue != nil { promptItems = [promptsValue] } else if let items = promptsValue.elements, !items.isEmpty {
            promptItems = items
        } else {
            throw promptsValue.error(field: "prompts", "expected a non-empty list of prompt templates, got \(promptsValue.kindName)")
        }
        var prompts: [String] = []
        for (i, item) in promptItems.enumerated() {
            guard let p = item.stringValue else { throw item.error(field: "prompts[\(i)]", "expected a string, got \(item.kindName)") }
            let count = p.components(separatedBy: motionPlaceholder).count - 1
            guard count == 1 else {
                throw item.error(field: "prompts[\(i)]", "a prompt template must contain '\(motionPlaceholder)' exactly once (found \(count) times): \"\(p)\"")
            }
            prompts.append(p)
        }

        let answerValue = try required("answer")
        let answer = try text("answer")
        let slot = kind == .classification ? "{class}" : "{value}"
        guard answer.components(separatedBy: slot).count == 2 else {
            throw answerValue.error(field: "answer", "the answer template must contain '\(slot)' exactly once: \"\(answer)\"")
        }

        var metric: TaskMetric = kind == .classification ? .macroF1 : .pearsonR
        if let m = root["metric"], !m.isNull {
            let allowed = TaskMetric.allowed(for: kind)
            guard let s = m.stringValue, let parsed = TaskMetric(rawValue: s), allowed.contains(parsed) else {
                throw m.error(field: "metric", "unknown \(kind.rawValue) metric '\(m.stringValue ?? m.kindName)'", allowed: allowed.map(\.rawValue))
            }
            metric = parsed
        }

        var classes: [TaskClass] = []
        var precision = 2
        var unit: String?
        if kind == .classification {
            let classesValue = try required("classes")
            classes = try Self.parseClasses(classesValue)
        } else {
            if let p = root["precision"], !p.isNull {
                guard let x = p.intValue, (0...10).contains(x) else {
                    throw p.error(field: "precision", "expected a whole number of decimal places from 0 to 10, got '\(p.stringValue ?? p.kindName)'")
                }
                precision = x
            }
            unit = try optionalText("unit")
            if answer.contains("{unit}"), unit == nil {
                throw answerValue.error(field: "answer", "the answer uses '{unit}' but the task has no 'unit' key")
            }
        }

        self.init(id: id, kind: kind, label: label, summary: try optionalText("description"), dataset: try optionalText("dataset"),
                  appliesWhen: conditions, classes: classes, prompts: prompts, answer: answer, precision: precision,
                  unit: unit, metric: metric)
        self.kind = kindText
        self.source = root
    }

    /// Parses a task file.
    public static func load(_ url: URL) throws -> TaskSpec { try TaskSpec(config: YAMLConfigLoader.load(file: url)) }

    /// Parses task YAML text (`file` names it in errors).
    public static func parse(_ text: String, file: String = "<task>") throws -> TaskSpec {
        try TaskSpec(config: YAMLConfigLoader.parse(text, file: file))
    }

    static func parseClasses(_ value: ConfigValue) throws -> [TaskClass] {
        var raw: [(name: String, synonyms: [String], at: ConfigValue)] = []
        if let items = value.elements {
            for (i, item) in items.enumerated() {
                guard let s = item.stringValue else { throw item.error(field: "classes[\(i)]", "expected a class name, got \(item.kindName)") }
                raw.append((s, [], item))
            }
        } else if let entries = value.entries {
            for entry in entries {
                var synonyms: [String] = []
                if entry.value.isNull {
                } else if let s = entry.value.stringValue { synonyms = [s] } else if let items = entry.value.elements {
                    synonyms = try items.map { item in
                        guard let s = item.stringValue else { throw item.error(field: "classes.\(entry.key)", "expected a phrase, got \(item.kindName)") }
                        return s
                    }
                } else {
                    throw entry.value.error(field: "classes.\(entry.key)", "expected a list of phrases, got \(entry.value.kindName)")
                }
                raw.append((entry.key, synonyms, entry.value.location == nil ? value : entry.value))
            }
        } else {
            throw value.error(field: "classes", "expected a mapping of class → phrases (or a list of class names), got \(value.kindName)")
        }
        guard raw.count >= 2 else { throw value.error(field: "classes", "a classification task needs at least two classes, got \(raw.count)") }

        var owner: [String: String] = [:]
        var classes: [TaskClass] = []
        for item in raw {
            let display = item.synonyms.first ?? item.name.replacingOccurrences(of: "_", with: " ")
            var phrases: [String] = []
            for phrase in [item.name, display] + item.synonyms {
                let key = AnswerText.normalise(phrase)
                guard !key.isEmpty else { throw item.at.error(field: "classes.\(item.name)", "the phrase '\(phrase)' has no letters or digits") }
                if let other = owner[key], other != item.name {
                    throw item.at.error(field: "classes.\(item.name)",
                                        "the phrase '\(phrase)' also names class '\(other)'; each phrase must name one class")
                }
                owner[key] = item.name
                if !phrases.contains(phrase) { phrases.append(phrase) }
            }
            if classes.contains(where: { $0.name == item.name }) {
                throw item.at.error(field: "classes.\(item.name)", "class '\(item.name)' is listed twice")
            }
            classes.append(TaskClass(name: item.name, display: display, synonyms: phrases))
        }
        return classes
    }

    // MARK: Behaviour shared by the task heads

    /// Whether the task is asked of a trial: every condition holds and the label is present.
    public func applies(to labels: [String: LabelValue]) -> Bool {
        for condition in appliesWhen {
            guard let value = labels[condition.label] else { return false }
            let text = Self.text(of: value)
            guard condition.values.contains(where: { Self.sameLabel($0, text) }) else { return false }
        }
        return target(from: labels) != nil
    }

    /// The truth: a class name (classification) or a number (regression); nil when the
    /// label is missing or is not one of the task's classes / not a finite number.
    public func target(from labels: [String: LabelValue]) -> LabelValue? {
        guard let value = labels[label] else { return nil }
        switch taskKind {
        case .classification:
            let text = Self.text(of: value)
            return classes.first { Self.sameLabel($0.name, text) }.map { .category($0.name) }
        case .regression:
            switch value {
            case .number(let x): return x.isFinite ? .number(x) : nil
            case .category(let s): return Double(s.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite ? .number($0) : nil }
            }
        }
    }

    public func prompt(using random: inout SeededRandom) -> String { prompts[random.nextInt(below: prompts.count)] }

    public func answer(for target: LabelValue) -> String {
        switch taskKind {
        case .classification:
            let name = target.category ?? target.description
            let display = classes.first { $0.name == name }?.display ?? name.replacingOccurrences(of: "_", with: " ")
            return answer.replacingOccurrences(of: "{class}", with: display)
        case .regression:
            let x = target.number ?? Double(target.description) ?? .nan
            return answer.replacingOccurrences(of: "{value}", with: AnswerText.format(x, precision: precision))
                .replacingOccurrences(of: "{unit}", with: unit ?? "")
        }
    }

    public func parse(answer text: String) -> LabelValue? {
        switch taskKind {
        case .classification:
            return AnswerText.matchClass(in: text, classes: classes, template: answer).map { .category($0) }
        case .regression:
            return AnswerText.firstNumber(in: text, template: answer.replacingOccurrences(of: "{unit}", with: unit ?? "")).map { .number($0) }
        }
    }

    public var classNames: [String] { classes.map(\.name) }

    static func text(of value: LabelValue) -> String {
        switch value {
        case .category(let s): return s
        case .number(let x): return x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
        }
    }

    /// Label values compare case-insensitively, ignoring surrounding space.
    static func sameLabel(_ a: String, _ b: String) -> Bool {
        a.trimmingCharacters(in: .whitespaces).lowercased() == b.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
