import Foundation

/// This process's memory as Linux reports it in `/proc/self/status` (nil elsewhere), for
/// benchmarks' peak-memory columns.
public enum ProcessMemory {
    /// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`, …) in MiB.
    public static func megabytes(_ field: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Double(parts[1]) { return kb / 1024 }
        }
        return nil
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    public static var peakResidentMegabytes: Double? { megabytes("VmHWM") }
    /// Resident memory now (VmRSS), in MiB.
    public static var residentMegabytes: Double? { megabytes("VmRSS") }

    /// Resets the peak (VmHWM) to the current resident memory (Linux ≥ 4.0: write 5 to
    /// `/proc/self/clear_refs`); false where that is not possible.
    public static func resetPeak() -> Bool {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? h.close() }
        do { try h.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }
}
