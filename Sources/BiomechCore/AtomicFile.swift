import Foundation

/// Writes files atomically: the bytes go to a temporary file beside the target, which is
/// then renamed over it. A reader (or a resumed run) sees the old file or the new one,
/// never a half-written one, even if the process is killed mid-write.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: temporary)
            // rename(2) replaces the target atomically on POSIX file systems.
            if rename(temporary.path, url.path) != 0 {
                throw InputError(file: url.path, "could not move the finished file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Writes a value as pretty, key-sorted JSON.
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try write(encoder.encode(value), to: url)
    }

    /// Produces a file by writing into a temporary path first, for writers (HDF5,
    /// safetensors streams) that need a path rather than bytes. The body writes to the
    /// URL it is given; on success that file replaces `url` atomically.
    public static func produce(_ url: URL, _ body: (URL) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try body(temporary)
            if rename(temporary.path, url.path) != 0 {
                throw InputError(file: url.path, "could not move the finished file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
