import BiomechCore
import Foundation

/// The formats `biomechgpt data import --format` reads.
public enum ImportFormat: String, Sendable, CaseIterable {
    case opensim      // OpenSim .mot / .sto
    case npz          // LocoMuJoCo numpy archives (q_* coordinates)
    case bvh          // BioVision hierarchy
    case uiPRMD = "ui-prmd"
    case fgdi
    case csv          // a header row of channel names, optional time column

    /// The endings of a file name of this format (compared in lower case); empty for the
    /// data sets read as folders (UI-PRMD, FGDI).
    public var fileSuffixes: [String] {
        switch self {
        case .opensim: return [".mot", ".sto"]
        case .npz: return [".npz"]
        case .bvh: return [".bvh"]
        case .csv: return [".csv", ".csv.gz"]
        case .uiPRMD, .fgdi: return []
        }
    }

    /// Whether a file name ends as this format's files do.
    public func matches(fileName: String) -> Bool {
        let name = fileName.lowercased()
        return fileSuffixes.contains { name.hasSuffix($0) }
    }

    /// The format one file's name says: by its ending, or UI-PRMD for its `*_angles*` files.
    public static func guess(fileName: String) -> ImportFormat? {
        if let f = allCases.first(where: { $0.matches(fileName: fileName) }) { return f }
        return fileName.lowercased().contains("_angles") ? .uiPRMD : nil
    }
}

public struct ImportOptions: Sendable {
    /// Frame rate for formats that do not store one.
    public var frameRate: Double?
    public init(frameRate: Double? = nil) { self.frameRate = frameRate }
}

/// Entry point of the importers.
public enum Importers {
    public static func importFiles(format: ImportFormat, inputs: [URL], options: ImportOptions = ImportOptions()) throws -> MotionDataset {
        guard !inputs.isEmpty else { throw InputError(field: "INPUT", "no input files given") }
        if let r = options.frameRate, !(r.isFinite && r > 0) {
            throw InputError(field: "--frame-rate", "expected a positive frame rate, got \(r)")
        }
        var dataset: MotionDataset
        switch format {
        case .opensim:
            let files = try TextInput.files(inputs) { format.matches(fileName: $0) }
            dataset = MotionDataset(name: "opensim", trials: try files.map { try OpenSimImporter.read($0) })
        case .npz:
            let files = try TextInput.files(inputs) { format.matches(fileName: $0) }
            dataset = MotionDataset(name: "locomujoco", trials: try files.map { try NPZImporter.read($0, frameRate: options.frameRate) })
        case .bvh:
            let files = try TextInput.files(inputs) { format.matches(fileName: $0) }
            dataset = MotionDataset(name: "bvh", trials: try files.map { try BVHImporter.read($0) })
        case .uiPRMD:
            dataset = try UIPRMDImporter.read(inputs)
        case .fgdi:
            dataset = try FGDIImporter.read(inputs)
        case .csv:
            let files = try TextInput.files(inputs) { format.matches(fileName: $0) }
            dataset = MotionDataset(name: "csv", trials: try files.map { try CSVImporter.read($0, frameRate: options.frameRate) })
        }
        guard !dataset.trials.isEmpty else {
            throw InputError(file: inputs.map(\.path).joined(separator: ", "), "no \(format.rawValue) files found in the inputs")
        }
        var seen = [String: String]()
        for t in dataset.trials {
            if let other = seen[t.id] {
                throw InputError(file: t.sourceFile, field: t.id, "trial id '\(t.id)' is also produced by \(other); rename one of the files")
            }
            seen[t.id] = t.sourceFile ?? "?"
        }
        dataset.attributes["importer"] = "biomechgpt data import --format \(format.rawValue)"
        dataset.attributes["inputs"] = inputs.map(\.path).joined(separator: "; ")
        return dataset
    }

    /// A trial id from a file name: the name without its extensions, '/' replaced.
    static func stem(_ url: URL) -> String {
        var name = url.lastPathComponent
        for ext in [".gz", ".mot", ".sto", ".npz", ".bvh", ".csv", ".txt"] where name.lowercased().hasSuffix(ext) {
            name = String(name.dropLast(ext.count))
        }
        return name.replacingOccurrences(of: "/", with: "_")
    }

    /// The participant part of a file stem: the text before the first '_' (subject01_walk1 → subject01).
    static func participant(fromStem stem: String) -> String {
        String(stem.split(separator: "_").first ?? Substring(stem))
    }

    static func unit(forChannel name: String, angles: ChannelUnit) -> ChannelUnit {
        let n = name.lowercased()
        if n.hasSuffix("_tx") || n.hasSuffix("_ty") || n.hasSuffix("_tz") || n.contains("translation") { return .meters }
        return angles
    }
}

/// Labels from a CSV: a `trial_id` or `participant_id` column (or both) and one column per label.
public struct LabelTable: Sendable {
    public var file: String
    public var rows: [(line: Int, trialID: String?, participantID: String?, labels: [String: LabelValue])]

    public static func read(_ url: URL) throws -> LabelTable {
        let records = try TextInput.csvRecords(url)
        guard let header = records.first else { throw InputError(file: url.path, line: 1, "empty label file; expected a header row") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let ti = names.firstIndex(of: "trial_id"), pi = names.firstIndex(of: "participant_id")
        guard ti != nil || pi != nil else {
            throw InputError(file: url.path, line: 1, field: "header", "the label CSV needs a trial_id or participant_id column", allowed: ["trial_id", "participant_id"])
        }
        var rows: [(Int, String?, String?, [String: LabelValue])] = []
        for r in records.dropFirst() {
            if r.fields.count == 1 && r.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard r.fields.count == names.count else {
                throw InputError(file: url.path, line: r.line, "\(r.fields.count) columns; the header has \(names.count)")
            }
            var labels: [String: LabelValue] = [:]
            for (k, v) in zip(names, r.fields) where k != "trial_id" && k != "participant_id" {
                let t = v.trimmingCharacters(in: .whitespaces)
                if t.isEmpty || t == "-" || t.lowercased() == "na" { continue }
                if let x = Double(t) {
                    guard x.isFinite else { throw InputError(file: url.path, line: r.line, field: k, "value is \(t); expected a finite number or a category") }
                    labels[k] = .number(x)
                } else { labels[k] = .category(t) }
            }
            rows.append((r.line, ti.map { r.fields[$0].trimmingCharacters(in: .whitespaces) },
                         pi.map { r.fields[$0].trimmingCharacters(in: .whitespaces) }, labels))
        }
        return LabelTable(file: url.path, rows: rows)
    }

    /// Attaches the labels. Rows keyed by trial id set that trial's labels (and its
    /// participant when the row has a participant_id); rows keyed only by participant id
    /// label every trial of that participant. A row naming no existing trial or participant is an error.
    public func apply(to dataset: inout MotionDataset) throws {
        var byTrial = [String: Int]()
        for (i, t) in dataset.trials.enumerated() { byTrial[t.id] = i }
        for row in rows {
            if let tid = row.trialID, !tid.isEmpty {
                guard let i = byTrial[tid] else {
                    throw InputError(file: file, line: row.line, field: "trial_id", "no trial '\(tid)' in the imported data")
                }
                if let p = row.participantID, !p.isEmpty { dataset.trials[i].participantID = p }
                dataset.trials[i].labels.merge(row.labels) { _, new in new }
            } else if let pid = row.participantID {
                let idx = dataset.trials.indices.filter { dataset.trials[$0].participantID == pid }
                guard !idx.isEmpty else {
                    throw InputError(file: file, line: row.line, field: "participant_id", "no participant '\(pid)' in the imported data")
                }
                for i in idx { dataset.trials[i].labels.merge(row.labels) { _, new in new } }
            }
        }
    }
}
