import BiomechCore
import CHDF5Shim
import Foundation

/// Reads and writes `MotionDataset`s as HDF5 files in the layout of docs/data-format.md:
///
/// ```
/// /                      attrs: format="biomechgpt-dataset", format_version=1, name
/// /provenance            attrs: free-form strings (generator, seed, importer, inputs, licence)
/// /trials/<trial_id>/    attrs: participant_id, frame_rate, source_file (optional)
///     values             float32 [frames, channels]
///     channels           strings [channels]
///     units              strings [channels]  (degrees | radians | meters | unitless)
///     labels/            attrs: one per label, a string (category) or a float64 (number)
/// ```
///
/// Writes are atomic (a temporary file renamed over the target). A truncated, corrupt or
/// foreign file is an `InputError` that names the file and the object at fault.
public enum HDF5Store {
    public static let formatName = "biomechgpt-dataset"
    public static let formatVersion = 1.0

    // HDF5 is not thread-safe in Debian's serial build: every call goes through this lock.
    private static let lock = NSLock()

    public static func write(_ dataset: MotionDataset, to url: URL, compress: Bool = true) throws {
        for trial in dataset.trials { try validateName(trial.id, file: url.path) }
        var seen = Set<String>()
        for trial in dataset.trials where !seen.insert(trial.id).inserted {
            throw InputError(file: url.path, field: trial.id, "two trials share the id '\(trial.id)'; trial ids must be unique")
        }
        try AtomicFile.produce(url) { tmp in
            lock.lock(); defer { lock.unlock() }
            bgpt_h5_silence_errors()
            let file = bgpt_h5_create_file(tmp.path)
            guard file >= 0 else { throw InputError(file: url.path, "could not create the HDF5 file") }
            defer { _ = bgpt_h5_close_file(file) }
            func fail(_ what: String) -> InputError { InputError(file: url.path, field: what, "HDF5 write failed") }
            guard bgpt_h5_write_string_attr(file, "format", formatName) == 0,
                  bgpt_h5_write_double_attr(file, "format_version", formatVersion) == 0,
                  bgpt_h5_write_string_attr(file, "name", dataset.name) == 0 else { throw fail("/") }
            let prov = bgpt_h5_create_group(file, "provenance")
            guard prov >= 0 else { throw fail("/provenance") }
            for (k, v) in dataset.attributes.sorted(by: { $0.key < $1.key }) {
                guard bgpt_h5_write_string_attr(prov, k, v) == 0 else { _ = bgpt_h5_close_group(prov); throw fail("/provenance.\(k)") }
            }
            _ = bgpt_h5_close_group(prov)
            let trials = bgpt_h5_create_group(file, "trials")
            guard trials >= 0 else { throw fail("/trials") }
            defer { _ = bgpt_h5_close_group(trials) }
            for trial in dataset.trials {
                let g = bgpt_h5_create_group(trials, trial.id)
                guard g >= 0 else { throw fail("/trials/\(trial.id)") }
                defer { _ = bgpt_h5_close_group(g) }
                var ok = bgpt_h5_write_string_attr(g, "participant_id", trial.participantID) == 0
                ok = ok && bgpt_h5_write_double_attr(g, "frame_rate", trial.frameRate) == 0
                if let s = trial.sourceFile { ok = ok && bgpt_h5_write_string_attr(g, "source_file", s) == 0 }
                ok = ok && trial.values.withUnsafeBufferPointer {
                    bgpt_h5_write_float_2d(g, "values", $0.baseAddress, UInt64(trial.frameCount), UInt64(trial.channels.count), compress ? 1 : 0) == 0
                }
                ok = ok && writeStrings(g, "channels", trial.channels.map(\.name))
                ok = ok && writeStrings(g, "units", trial.channels.map(\.unit.rawValue))
                let lg = bgpt_h5_create_group(g, "labels")
                ok = ok && lg >= 0
                if lg >= 0 {
                    for (k, v) in trial.labels.sorted(by: { $0.key < $1.key }) {
                        switch v {
                        case .category(let c): ok = ok && bgpt_h5_write_string_attr(lg, k, c) == 0
                        case .number(let x): ok = ok && bgpt_h5_write_double_attr(lg, k, x) == 0
                        }
                    }
                    _ = bgpt_h5_close_group(lg)
                }
                guard ok else { throw fail("/trials/\(trial.id)") }
            }
        }
    }

    /// Reads a whole data set.
    public static func read(_ url: URL) throws -> MotionDataset {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(file: path, "no such file")
        }
        lock.lock(); defer { lock.unlock() }
        bgpt_h5_silence_errors()
        let file = bgpt_h5_open_file_readonly(path)
        guard file >= 0 else {
            throw InputError(file: path, "not a readable HDF5 file (truncated, corrupt, or another format); expected a data set written by `biomechgpt data import` or `data synth`")
        }
        defer { _ = bgpt_h5_close_file(file) }
        let format = readStringAttr(file, "format")
        guard format == formatName else {
            throw InputError(file: path, field: "/.format", "expected the attribute format=\"\(formatName)\", found \(format.map { "\"\($0)\"" } ?? "none")")
        }
        let name = readStringAttr(file, "name") ?? url.deletingPathExtension().lastPathComponent
        var attributes: [String: String] = [:]
        if bgpt_h5_exists(file, "provenance") == 1 {
            let prov = bgpt_h5_open_group(file, "provenance")
            if prov >= 0 {
                for key in attributeNames(prov) { attributes[key] = readStringAttr(prov, key) ?? readDoubleAttr(prov, key).map { String($0) } }
                _ = bgpt_h5_close_group(prov)
            }
        }
        let trialsGroup = bgpt_h5_open_group(file, "trials")
        guard trialsGroup >= 0 else { throw InputError(file: path, field: "/trials", "the group of trials is missing or unreadable") }
        defer { _ = bgpt_h5_close_group(trialsGroup) }
        let count = bgpt_h5_child_count(trialsGroup)
        guard count >= 0 else { throw InputError(file: path, field: "/trials", "could not list the trials (file truncated?)") }
        var trials: [Trial] = []
        trials.reserveCapacity(Int(count))
        for i in 0..<UInt64(count) {
            guard let id = childName(trialsGroup, i) else { throw InputError(file: path, field: "/trials", "could not read the name of trial \(i)") }
            trials.append(try readTrial(trialsGroup, id: id, file: path))
        }
        return MotionDataset(name: name, trials: trials, attributes: attributes)
    }

    private static func readTrial(_ parent: bgpt_hid, id: String, file: String) throws -> Trial {
        let field = "/trials/\(id)"
        let g = bgpt_h5_open_group(parent, id)
        guard g >= 0 else { throw InputError(file: file, field: field, "unreadable trial group") }
        defer { _ = bgpt_h5_close_group(g) }
        guard let participant = readStringAttr(g, "participant_id") else {
            throw InputError(file: file, field: "\(field).participant_id", "missing string attribute")
        }
        guard let rate = readDoubleAttr(g, "frame_rate") else {
            throw InputError(file: file, field: "\(field).frame_rate", "missing numeric attribute")
        }
        let source = readStringAttr(g, "source_file")
        guard let names = readStrings(g, "channels") else {
            throw InputError(file: file, field: "\(field)/channels", "missing or unreadable list of channel names")
        }
        let units = readStrings(g, "units") ?? Array(repeating: "unitless", count: names.count)
        guard units.count == names.count else {
            throw InputError(file: file, field: "\(field)/units", "\(units.count) units for \(names.count) channels")
        }
        var channels: [Channel] = []
        for (n, u) in zip(names, units) {
            guard let unit = ChannelUnit(rawValue: u) else {
                throw InputError(file: file, field: "\(field)/units", "unknown unit '\(u)' for channel \(n)", allowed: ChannelUnit.allCases.map(\.rawValue))
            }
            channels.append(Channel(n, unit: unit))
        }
        var dims = [UInt64](repeating: 0, count: 8)
        let rank = bgpt_h5_dataset_dims(g, "values", &dims, 8)
        guard rank == 2 else { throw InputError(file: file, field: "\(field)/values", "expected a 2-D dataset frames x channels, got rank \(rank)") }
        guard dims[1] == UInt64(channels.count) else {
            throw InputError(file: file, field: "\(field)/values", "has \(dims[1]) columns but \(channels.count) channel names")
        }
        let (product, overflow) = dims[0].multipliedReportingOverflow(by: dims[1])
        guard !overflow, product <= UInt64(Int32.max) else {
            throw InputError(file: file, field: "\(field)/values", "\(dims[0]) × \(dims[1]) values are more than one trial can hold")
        }
        guard dims[0] >= 1 else { throw InputError(file: file, field: "\(field)/values", "has no frames; a trial needs at least one") }
        let n = Int(product)
        var values = [Float](repeating: 0, count: n)
        let rc = values.withUnsafeMutableBufferPointer { bgpt_h5_read_float(g, "values", $0.baseAddress, UInt64(n)) }
        guard rc == 0 else { throw InputError(file: file, field: "\(field)/values", "could not read the values (file truncated or corrupt?)") }
        var labels: [String: LabelValue] = [:]
        if bgpt_h5_exists(g, "labels") == 1 {
            let lg = bgpt_h5_open_group(g, "labels")
            if lg >= 0 {
                defer { _ = bgpt_h5_close_group(lg) }
                for key in attributeNames(lg) {
                    switch bgpt_h5_attr_kind(lg, key) {
                    case 1: if let s = readStringAttr(lg, key) { labels[key] = .category(s) }
                    case 2: if let x = readDoubleAttr(lg, key) { labels[key] = .number(x) }
                    default: throw InputError(file: file, field: "\(field)/labels.\(key)", "a label must be a string or a number")
                    }
                }
            }
        }
        do {
            return try Trial(id: id, participantID: participant, frameRate: rate, channels: channels, values: values,
                             labels: labels, sourceFile: source)
        } catch let e as InputError {
            throw InputError(file: file, field: e.field ?? field, e.message)
        }
    }

    // MARK: helpers

    static func validateName(_ id: String, file: String) throws {
        guard !id.isEmpty, !id.contains("/"), id != ".", id != ".." else {
            throw InputError(file: file, field: id, "a trial id must be non-empty and must not contain '/'")
        }
    }

    private static func writeStrings(_ loc: bgpt_hid, _ name: String, _ strings: [String]) -> Bool {
        var cstrs = strings.map { strdup($0) }
        defer { cstrs.forEach { free($0) } }
        return cstrs.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) {
                bgpt_h5_write_string_array(loc, name, $0, UInt64(strings.count)) == 0
            }
        }
    }

    private static func readStrings(_ loc: bgpt_hid, _ name: String) -> [String]? {
        guard bgpt_h5_exists(loc, name) == 1 else { return nil }
        var out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: UInt64 = 0
        guard bgpt_h5_read_string_array(loc, name, &out, &count) == 0 else { return nil }
        defer { bgpt_free_strings(out, count) }
        return (0..<Int(count)).map { i in out![i].map { String(cString: $0) } ?? "" }
    }

    private static func readStringAttr(_ obj: bgpt_hid, _ name: String) -> String? {
        var out: UnsafeMutablePointer<CChar>?
        guard bgpt_h5_read_string_attr(obj, name, &out) == 0, let p = out else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    private static func readDoubleAttr(_ obj: bgpt_hid, _ name: String) -> Double? {
        var x = 0.0
        return bgpt_h5_read_double_attr(obj, name, &x) == 0 ? x : nil
    }

    private static func attributeNames(_ obj: bgpt_hid) -> [String] {
        let n = bgpt_h5_attr_count(obj)
        guard n > 0 else { return [] }
        return (0..<UInt64(n)).compactMap { i in
            nameCall { bgpt_h5_attr_name(obj, i, $0, $1) }
        }
    }

    private static func childName(_ group: bgpt_hid, _ i: UInt64) -> String? {
        nameCall { bgpt_h5_child_name(group, i, $0, $1) }
    }

    private static func nameCall(_ call: (UnsafeMutablePointer<CChar>, Int) -> Int64) -> String? {
        var cap = 256
        while true {
            var buf = [CChar](repeating: 0, count: cap)
            let n = buf.withUnsafeMutableBufferPointer { call($0.baseAddress!, cap) }
            if n < 0 { return nil }
            if Int(n) < cap { return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
            cap = Int(n) + 1
        }
    }
}

extension MotionDataset {
    /// Reads a data set from an HDF5 file (see `HDF5Store`).
    public static func load(from url: URL) throws -> MotionDataset { try HDF5Store.read(url) }
    /// Writes the data set to an HDF5 file atomically.
    public func save(to url: URL) throws { try HDF5Store.write(self, to: url) }
}
