import BiomechCore
import Foundation

/// The folder one run writes everything into, so that it can be reproduced, resumed and
/// reported from the folder alone:
///
/// ```
/// runs/<name>-<timestamp>/
///   recipe.yaml          the fully resolved recipe (no `extends`)
///   run.json             seed, recipe file, command line, start time, completed stages
///   split.json           the participant split (identical for tokenizer and language model)
///   data/                the data set used (HDF5) when it was generated or imported
///   artifacts/<stage>/   what each stage produced (weights, encodings, QA sets, predictions)
///   logs/<stage>.jsonl   progress of long stages as JSON Lines
///   report/              Markdown, CSV, JSON and SVG
///   stages/<stage>.json  written when a stage completes; a resumed run skips those stages
/// ```
public struct RunDirectory: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url.standardizedFileURL }

    /// A new directory `<root>/<name>-<yyyyMMdd-HHmmss>` (with a suffix if it exists).
    public static func create(root: String, name: String, now: Date = Date()) throws -> RunDirectory {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let stem = "\(name)-\(formatter.string(from: now))"
        var candidate = URL(fileURLWithPath: root).appendingPathComponent(stem)
        var n = 1
        while FileManager.default.fileExists(atPath: candidate.path) {
            n += 1
            candidate = URL(fileURLWithPath: root).appendingPathComponent("\(stem)-\(n)")
        }
        try FileManager.default.createDirectory(at: candidate, withIntermediateDirectories: true)
        return RunDirectory(url: candidate)
    }

    /// An existing run directory (for resume, report, ask).
    public static func open(_ path: String) throws -> RunDirectory {
        let dir = RunDirectory(url: URL(fileURLWithPath: path))
        guard FileManager.default.fileExists(atPath: dir.recipeFile.path) else {
            throw InputError(file: path, "not a run directory: it has no recipe.yaml (run directories are made by `biomechgpt run`)")
        }
        return dir
    }

    public var recipeFile: URL { url.appendingPathComponent("recipe.yaml") }
    public var runInfoFile: URL { url.appendingPathComponent("run.json") }
    public var splitFile: URL { url.appendingPathComponent("split.json") }
    public var dataDirectory: URL { url.appendingPathComponent("data") }
    public var reportDirectory: URL { url.appendingPathComponent("report") }
    public func artifacts(_ stage: String) -> URL { url.appendingPathComponent("artifacts").appendingPathComponent(stage) }
    public func log(_ stage: String) -> URL { url.appendingPathComponent("logs").appendingPathComponent("\(stage).jsonl") }
    func stageMarker(_ stage: String) -> URL { url.appendingPathComponent("stages").appendingPathComponent("\(stage).json") }

    /// Whether a stage completed in an earlier invocation.
    public func isComplete(_ stage: String) -> Bool { FileManager.default.fileExists(atPath: stageMarker(stage).path) }

    /// Records a completed stage with its wall time and a summary.
    public func markComplete(_ stage: String, seconds: Double, summary: [String: String]) throws {
        try AtomicFile.writeJSON(StageRecord(stage: stage, seconds: seconds, completed: Date(), summary: summary), to: stageMarker(stage))
    }

    public func completedRecord(_ stage: String) -> StageRecord? {
        guard let data = FileManager.default.contents(atPath: stageMarker(stage).path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(StageRecord.self, from: data)
    }
}

/// What `stages/<stage>.json` holds.
public struct StageRecord: Codable, Sendable {
    public var stage: String
    public var seconds: Double
    public var completed: Date
    public var summary: [String: String]
}

/// What `run.json` holds.
public struct RunInfo: Codable, Sendable {
    public var name: String
    public var recipeFile: String
    public var seed: UInt64
    public var repeats: Int
    public var commandLine: [String]
    public var started: Date
    public var threads: Int

    public init(name: String, recipeFile: String, seed: UInt64, repeats: Int, commandLine: [String], started: Date, threads: Int) {
        self.name = name; self.recipeFile = recipeFile; self.seed = seed; self.repeats = repeats
        self.commandLine = commandLine; self.started = started; self.threads = threads
    }
}
