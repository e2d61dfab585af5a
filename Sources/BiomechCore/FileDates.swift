import Foundation

/// Whether a derived file is up to date with what it was made from, judged by modification
/// times (a re-trained adapter or a new QA set makes predictions stale; a checkpoint newer than
/// a saved adapter means the adapter is not that checkpoint's).
public enum FileDates {
    /// The file's modification time; nil when it does not exist.
    public static func modified(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    /// Whether `file` exists and was written no earlier than every one of `inputs` (which must
    /// not be empty; a missing input counts as newer).
    public static func isCurrent(_ file: URL, after inputs: [URL]) -> Bool {
        guard let written = modified(file), !inputs.isEmpty else { return false }
        return inputs.allSatisfy { (modified($0) ?? .distantFuture) <= written }
    }
}
