import BiomechCore
import CHDF5Shim
import Foundation

/// Reading user files: bytes (transparently gunzipped), lines, CSV fields and numbers,
/// with errors that name the file, the line and the column.
enum TextInput {
    static func bytes(_ url: URL) throws -> [UInt8] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, "cannot read the file (\(FileManager.default.fileExists(atPath: url.path) ? "permission or I/O error" : "no such file"))")
        }
        let raw = [UInt8](data)
        if raw.count >= 2 && raw[0] == 0x1f && raw[1] == 0x8b { return try gunzip(raw, file: url.path) }
        return raw
    }

    static func gunzip(_ raw: [UInt8], file: String) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        let rc = raw.withUnsafeBufferPointer { bgpt_gunzip($0.baseAddress, raw.count, &out, &len) }
        guard rc == 0, let out else { throw InputError(file: file, "corrupt or truncated gzip data") }
        defer { bgpt_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }

    /// The file's text split into lines (LF, CRLF or CR), without a UTF-8 byte-order mark.
    static func lines(_ url: URL) throws -> [Substring] {
        var b = try bytes(url)
        if b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { b.removeFirst(3) }
        let text = String(decoding: b, as: UTF8.self)
        // "\r\n" is one Character in Swift: split on any line break (LF, CRLF or CR).
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        if let last = lines.last, last.isEmpty { lines.removeLast() }
        return lines
    }

    /// Splits one CSV line (RFC 4180 quoting; no embedded newlines).
    static func csvFields(_ line: Substring, separator: Character = ",") -> [String] {
        var fields: [String] = []
        var cur = ""
        var quoted = false
        var it = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = it.next() { if n == "\"" { cur.append("\"") } else { quoted = false; pending = n } } else { quoted = false }
                } else { cur.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == separator { fields.append(cur); cur = "" }
            else { cur.append(c) }
        }
        fields.append(cur)
        return fields
    }

    /// Parses CSV text into records, joining lines inside quoted fields.
    static func csvRecords(_ url: URL) throws -> [(line: Int, fields: [String])] {
        let ls = try lines(url)
        var out: [(Int, [String])] = []
        var i = 0
        while i < ls.count {
            var text = String(ls[i])
            let start = i + 1
            while text.filter({ $0 == "\"" }).count % 2 == 1 && i + 1 < ls.count { i += 1; text += "\n" + ls[i] }
            out.append((start, csvFields(Substring(text))))
            i += 1
        }
        return out
    }

    /// A finite number, or an error naming the place.
    @inline(__always)
    static func number(_ s: Substring, file: String, line: Int, column: String) throws -> Double {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard let x = Double(t) else {
            throw InputError(file: file, line: line, field: column, "expected a number, got '\(t)'")
        }
        guard x.isFinite else {
            throw InputError(file: file, line: line, field: column, "value is \(t); expected a finite number (NaN or infinite values mark missing data and must be filled or removed before import)")
        }
        return x
    }

    /// Resamples columns sampled at (possibly uneven) `times` onto a uniform grid at the
    /// median frame interval, by linear interpolation. Returns the frame rate and values.
    static func uniform(times: [Double], rows: [[Double]], file: String) throws -> (rate: Double, values: [[Double]]) {
        guard times.count >= 2 else { throw InputError(file: file, "a trial needs at least two frames, found \(times.count)") }
        for i in 1..<times.count where !(times[i] > times[i - 1]) {
            throw InputError(file: file, field: "time", "time must increase from frame to frame; frame \(i) has \(times[i]) after \(times[i - 1])")
        }
        let steps = (1..<times.count).map { times[$0] - times[$0 - 1] }.sorted()
        let dt = steps[steps.count / 2]
        let even = steps.first! > dt * 0.98 && steps.last! < dt * 1.02
        if even { return (1 / dt, rows) }
        let n = Int(((times.last! - times.first!) / dt + 1e-6).rounded(.down)) + 1
        var out: [[Double]] = []
        out.reserveCapacity(n)
        var j = 0
        for k in 0..<n {
            let t = times[0] + Double(k) * dt
            while j + 1 < times.count - 1 && times[j + 1] < t { j += 1 }
            let t0 = times[j], t1 = times[j + 1]
            let w = clamp01((t - t0) / (t1 - t0))
            out.append(zip(rows[j], rows[j + 1]).map { $0 + ($1 - $0) * w })
        }
        return (1 / dt, out)
    }

    static func clamp01(_ x: Double) -> Double { min(max(x, 0), 1) }

    /// Files under the inputs (directories searched recursively) whose names match.
    static func files(_ inputs: [URL], matching accept: (String) -> Bool) throws -> [URL] {
        var out: [URL] = []
        for url in inputs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
                throw InputError(file: url.path, "no such file or directory")
            }
            if isDir.boolValue {
                guard let e = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil) else { continue }
                var found: [URL] = []
                for case let f as URL in e where accept(f.lastPathComponent) { found.append(f) }
                out += found.sorted { $0.path < $1.path }
            } else {
                out.append(url)
            }
        }
        return out
    }
}
