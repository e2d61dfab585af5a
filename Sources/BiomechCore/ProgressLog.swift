import Foundation

/// Progress output for long jobs: step, metrics, rate and time left, on standard error,
/// throttled so logs stay readable; optionally mirrored into a JSON Lines file.
public final class ProgressLog: @unchecked Sendable {
    public let label: String
    private let start = Date()
    private var lastPrint = Date.distantPast
    /// Where the rate is measured from: the step before the first one reported (a resumed
    /// job starts past 0) and when that was; reset when the steps start again (one log
    /// reused for several jobs).
    private var origin: (step: Int, time: Date)?
    private var last: (step: Int, time: Date)?
    private let minimumInterval: TimeInterval
    private let quiet: Bool
    private let lock = NSLock()
    private var jsonLines: FileHandle?

    public init(label: String, minimumInterval: TimeInterval = 2, quiet: Bool = false, jsonLinesFile: URL? = nil) {
        self.label = label; self.minimumInterval = minimumInterval; self.quiet = quiet
        if let jsonLinesFile {
            try? FileManager.default.createDirectory(at: jsonLinesFile.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: jsonLinesFile.path) {
                _ = FileManager.default.createFile(atPath: jsonLinesFile.path, contents: nil)
            }
            jsonLines = try? FileHandle(forWritingTo: jsonLinesFile)
            _ = try? jsonLines?.seekToEnd()
        }
    }

    deinit { try? jsonLines?.close() }

    /// A silent log (tests).
    public static func silent(_ label: String = "") -> ProgressLog { ProgressLog(label: label, quiet: true) }

    /// Reports step `step` of `total` with named metrics. Prints at most every
    /// `minimumInterval` seconds (and always on the last step); always logs to JSON Lines.
    /// `now` is for tests.
    public func step(_ step: Int, of total: Int, _ metrics: [(String, Double)] = [], force: Bool = false, at now: Date = Date()) {
        lock.lock(); defer { lock.unlock() }
        let elapsed = now.timeIntervalSince(start)
        if let jsonLines {
            var fields = ["\"step\": \(step)", "\"elapsed_s\": \(String(format: "%.3f", elapsed))"]
            fields += metrics.map { "\"\($0.0)\": \($0.1.isFinite ? String($0.1) : "null")" }
            jsonLines.write(Data(("{" + fields.joined(separator: ", ") + "}\n").utf8))
        }
        defer { last = (step, now) }
        if origin == nil || step <= (last?.step ?? Int.min) { origin = (step - 1, last?.time ?? start) }
        guard !quiet, force || step == total || now.timeIntervalSince(lastPrint) >= minimumInterval else { return }
        lastPrint = now
        let rate = currentRate(step, at: now)
        let left = rate > 0 ? Double(total - step) / rate : 0
        let metricText = metrics.map { "\($0.0) \(Self.format($0.1))" }.joined(separator: "  ")
        let line = "[\(label)] \(step)/\(total)  \(metricText)  \(String(format: "%.2f", rate)) steps/s  left \(Self.duration(left))"
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Steps per second since the origin of the current job (the latest step's rate).
    func currentRate(_ step: Int, at now: Date) -> Double {
        guard let origin else { return 0 }
        let seconds = now.timeIntervalSince(origin.time)
        return seconds > 0 ? Double(step - origin.step) / seconds : 0
    }

    /// A free-form message.
    public func note(_ message: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data("[\(label)] \(message)\n".utf8))
    }

    static func format(_ x: Double) -> String {
        if x == 0 { return "0" }
        let magnitude = abs(x)
        return magnitude >= 1000 || magnitude < 0.001 ? String(format: "%.3e", x) : String(format: "%.4f", x)
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
