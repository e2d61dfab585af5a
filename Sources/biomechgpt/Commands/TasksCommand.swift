import ArgumentParser
import BiomechCore
import ClinicalTasks
import Foundation

/// Options naming where task files are found.
struct TaskFolderOptions: ParsableArguments {
    @Option(name: .customLong("tasks-dir"), help: "An extra folder of task YAML files (repeatable).")
    var extraFolders: [String] = []

    @Option(help: "The project folder whose recipes/tasks/ holds the shipped tasks.")
    var root: String = FileManager.default.currentDirectoryPath

    @Flag(help: "Do not load the shipped tasks in recipes/tasks/.")
    var noShipped = false

    var shippedFolder: URL { TaskCatalog.shippedFolder(root: URL(fileURLWithPath: root)) }

    func catalog(requireShipped: Bool = true) throws -> TaskCatalog {
        var folders: [URL] = []
        if !noShipped {
            if FileManager.default.fileExists(atPath: shippedFolder.path) { folders.append(shippedFolder) } else if requireShipped {
                throw InputError(file: shippedFolder.path,
                                 "the shipped task folder is missing; run from the project folder or pass --root (or --no-shipped)")
            }
        }
        folders += extraFolders.map { URL(fileURLWithPath: $0) }
        return try TaskCatalog.load(folders: folders)
    }
}

/// `biomechgpt tasks list|check`: the task catalog and the validation of task files.
struct TasksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks", abstract: "List the clinical tasks or check a task file.",
        subcommands: [List.self, Check.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every task of the catalog (recipes/tasks/ and --tasks-dir folders).")
        @OptionGroup var folders: TaskFolderOptions
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() throws {
            try reportingErrors {
                let catalog = try folders.catalog()
                if json {
                    struct Row: Encodable {
                        var id, kind, label, metric: String; var dataset: String?; var classes: [String]; var unit: String?
                        var applies_when: [String: [String]]; var prompts: Int; var file: String
                    }
                    let rows = catalog.specs.map { s in
                        Row(id: s.id, kind: s.kind, label: s.label, metric: s.metric.rawValue, dataset: s.dataset, classes: s.classNames,
                            unit: s.unit, applies_when: Dictionary(s.appliesWhen.map { ($0.label, $0.values) }, uniquingKeysWith: { a, _ in a }),
                            prompts: s.prompts.count, file: catalog.files[s.id] ?? "")
                    }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(rows), as: UTF8.self))
                    return
                }
                print("| task | kind | data set | label | applies when | classes / unit | metric |")
                print("|---|---|---|---|---|---|---|")
                for s in catalog.specs {
                    let when = s.appliesWhen.map { "\($0.label) = \($0.values.joined(separator: " or "))" }.joined(separator: ", ")
                    let detail = s.taskKind == .classification ? s.classNames.joined(separator: ", ") : (s.unit ?? "")
                    print("| \(s.id) | \(s.kind) | \(s.dataset ?? "") | \(s.label) | \(when.isEmpty ? "always" : when) | \(detail) | \(s.metric.rawValue) |")
                }
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate task YAML files: keys, classes, prompts, answer template; show a sample question and answers.")
        @Argument(help: "Task files to check.") var files: [String]
        @OptionGroup var folders: TaskFolderOptions

        func run() throws {
            try reportingErrors {
                let shipped = (try? folders.catalog(requireShipped: false)) ?? TaskCatalog()
                for file in files {
                    let url = URL(fileURLWithPath: file)
                    let spec = try TaskSpec.load(url)
                    let task = try TaskCatalog.heads(for: [spec], registry: PluginCatalog.registry)[0]
                    if let other = shipped.files[spec.id],
                       URL(fileURLWithPath: other).standardizedFileURL.path != url.standardizedFileURL.path {
                        throw InputError(file: file, field: "id", "task id '\(spec.id)' is already used by \(other); choose another id")
                    }
                    var random = SeededRandom(seed: 0)
                    let sample = task.prompt(using: &random).replacingOccurrences(of: motionPlaceholder, with: "<motion_start>…<motion_end>")
                    print("ok: \(spec.id) (\(spec.kind), label '\(spec.label)', \(spec.prompts.count) prompt(s), metric \(spec.metric.rawValue))")
                    if !spec.appliesWhen.isEmpty {
                        print("  asked when: " + spec.appliesWhen.map { "\($0.label) = \($0.values.joined(separator: " or "))" }.joined(separator: ", "))
                    }
                    print("  sample question: \(sample)")
                    switch spec.taskKind {
                    case .classification:
                        for c in spec.classes {
                            let answer = task.answer(for: .category(c.name))
                            guard task.parse(answer: answer) == .category(c.name) else {
                                throw InputError(file: file, field: "classes.\(c.name)",
                                                 "the reference answer \"\(answer)\" does not parse back to '\(c.name)'")
                            }
                            print("  \(c.name): \"\(answer)\"  (also accepts: \(c.synonyms.joined(separator: "; ")))")
                        }
                    case .regression:
                        let answer = task.answer(for: .number(1.2345))
                        guard task.parse(answer: answer)?.number != nil else {
                            throw InputError(file: file, field: "answer", "the reference answer \"\(answer)\" does not parse back to a number")
                        }
                        print("  sample answer: \"\(answer)\"")
                    }
                }
            }
        }
    }
}
