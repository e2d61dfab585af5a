import BiomechCore
import Foundation

/// Every task file (`*.yaml`, `*.yml`) found in a set of folders: the shipped
/// `recipes/tasks/` plus any extra folders a recipe or a command names. Task ids must be
/// unique across all folders; a later folder cannot silently replace an earlier task.
public struct TaskCatalog: Sendable {
    public private(set) var specs: [TaskSpec] = []
    /// Where each task was read from, by id.
    public private(set) var files: [String: String] = [:]

    /// An empty catalog.
    public init() {}

    public init(specs: [TaskSpec]) throws {
        for spec in specs { try add(spec, file: spec.source?.location?.file ?? "<memory>") }
    }

    /// Loads every task file of `folders`, in file-name order. A folder that does not exist
    /// is an error naming it.
    public static func load(folders: [URL]) throws -> TaskCatalog {
        var catalog = TaskCatalog()
        for folder in folders { try catalog.addFolder(folder) }
        return catalog
    }

    /// The shipped folder, `recipes/tasks` under `root` (the working directory by default).
    public static func shippedFolder(root: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) -> URL {
        root.appendingPathComponent("recipes/tasks", isDirectory: true)
    }

    public mutating func addFolder(_ folder: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(file: folder.path, "task folder not found (expected a folder of task YAML files)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.hasPrefix(".") }.sorted()
        for name in names {
            let url = folder.appendingPathComponent(name)
            try add(TaskSpec.load(url), file: url.path)
        }
    }

    public mutating func add(_ spec: TaskSpec, file: String) throws {
        if let existing = files[spec.id] {
            let at = spec.source?["id"]?.location
            throw InputError(file: file, line: at?.line, column: at?.column, field: "id",
                             "task id '\(spec.id)' is already defined in \(existing)")
        }
        specs.append(spec)
        files[spec.id] = file
    }

    public var ids: [String] { specs.map(\.id) }

    public func spec(_ id: String) -> TaskSpec? { specs.first { $0.id == id } }

    /// The specs of `ids` in that order; an unknown id is an error listing the known ones.
    public func select(_ ids: [String], file: String? = nil) throws -> [TaskSpec] {
        try ids.map { id in
            guard let spec = spec(id) else {
                throw InputError(file: file, field: "tasks", "unknown task '\(id)'", allowed: self.ids.sorted())
            }
            return spec
        }
    }

    /// Builds a task head for each spec through the plugin registry (`kind` is the task
    /// plugin id: `classification`, `regression`).
    public static func heads(for specs: [TaskSpec], registry: PluginRegistry) throws -> [any TaskHead] {
        try specs.map { spec in
            try registry.make(.task, id: spec.kind, parameters: PluginParameters(section: spec.source, path: spec.id),
                              idLocation: spec.source?["kind"], as: (any TaskHead).self)
        }
    }
}
