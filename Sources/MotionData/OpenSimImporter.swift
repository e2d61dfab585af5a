import BiomechCore
import Foundation

/// OpenSim storage files (.mot, .sto): a header ending in `endheader` (with `inDegrees`,
/// optionally `nRows`/`nColumns`), a row of column labels starting with `time`, then one
/// row of numbers per time step (tab- or space-separated). Uneven time steps are resampled
/// linearly onto the median step. Angles are stored in degrees (radians converted);
/// `*_tx/_ty/_tz` coordinates are metres. Trial id: the file name; participant: the part
/// of the name before the first '_'.
public enum OpenSimImporter {
    public static func read(_ url: URL) throws -> Trial {
        let file = url.path
        let lines = try TextInput.lines(url)
        guard let end = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).lowercased() == "endheader" }) else {
            throw InputError(file: file, "no 'endheader' line: not an OpenSim .mot/.sto file, or the header is truncated")
        }
        var inDegrees: Bool?
        var nRows: Int?, nColumns: Int?
        for (i, l) in lines[..<end].enumerated() {
            let parts = l.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0].lowercased() {
            case "indegrees":
                switch parts[1].lowercased() {
                case "yes": inDegrees = true
                case "no": inDegrees = false
                default: throw InputError(file: file, line: i + 1, field: "inDegrees", "expected yes or no, got '\(parts[1])'", allowed: ["yes", "no"])
                }
            case "nrows", "datarows": nRows = Int(parts[1])
            case "ncolumns", "datacolumns": nColumns = Int(parts[1])
            default: break
            }
        }
        guard end + 1 < lines.count else { throw InputError(file: file, line: end + 2, "missing the row of column labels after 'endheader'") }
        let headerLine = end + 2
        let names = lines[end + 1].split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
        guard let first = names.first, first.lowercased() == "time" else {
            throw InputError(file: file, line: headerLine, field: names.first ?? "", "the first column must be 'time'")
        }
        guard names.count >= 2 else { throw InputError(file: file, line: headerLine, "no coordinate columns after 'time'") }
        if let nColumns, nColumns != names.count {
            throw InputError(file: file, line: headerLine, field: "nColumns", "header says \(nColumns) columns but the label row has \(names.count)")
        }
        if Set(names).count != names.count {
            throw InputError(file: file, line: headerLine, "duplicate column labels")
        }
        var times: [Double] = [], rows: [[Double]] = []
        for k in (end + 2)..<lines.count {
            let l = lines[k]
            if l.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = l.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count == names.count else {
                throw InputError(file: file, line: k + 1, "\(fields.count) values; expected \(names.count) (one per column label)")
            }
            var row: [Double] = []
            row.reserveCapacity(names.count - 1)
            times.append(try TextInput.number(fields[0], file: file, line: k + 1, column: "time"))
            for c in 1..<names.count { row.append(try TextInput.number(fields[c], file: file, line: k + 1, column: names[c])) }
            rows.append(row)
        }
        // nRows is advisory: published files (e.g. OpenSim's crouch-gait examples) declare
        // more rows than they hold, and OpenSim itself reads to the end of the file. A file
        // cut mid-row fails the column count above.
        _ = nRows
        guard let inDegrees else {
            throw InputError(file: file, field: "inDegrees", "the header does not say whether angles are in degrees (inDegrees=yes|no)")
        }
        let (rate, uniform) = try TextInput.uniform(times: times, rows: rows, file: file)
        var channels: [Channel] = []
        var convert: [Bool] = []
        for n in names.dropFirst() {
            let u = Importers.unit(forChannel: n, angles: .degrees)
            channels.append(Channel(n, unit: u))
            convert.append(u == .degrees && !inDegrees)
        }
        var values: [Float] = []
        values.reserveCapacity(uniform.count * channels.count)
        for r in uniform { for (c, x) in r.enumerated() { values.append(Float(convert[c] ? x * 180 / .pi : x)) } }
        let stem = Importers.stem(url)
        return try Trial(id: stem, participantID: Importers.participant(fromStem: stem), frameRate: rate,
                         channels: channels, values: values, labels: [:], sourceFile: file)
    }
}

/// CSV with a header row of channel names. A first column named `time` (or `t`,
/// `seconds`) gives the frame times; otherwise `--frame-rate` is required. Channels named
/// `*_tx/_ty/_tz` are metres, the rest degrees.
public enum CSVImporter {
    public static func read(_ url: URL, frameRate: Double?) throws -> Trial {
        let file = url.path
        let records = try TextInput.csvRecords(url)
        guard let header = records.first else { throw InputError(file: file, line: 1, "empty file; expected a header row of channel names") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        if let bad = names.firstIndex(where: { $0.isEmpty }) {
            throw InputError(file: file, line: 1, field: "column \(bad + 1)", "empty column name in the header row")
        }
        if Double(names[0]) != nil {
            throw InputError(file: file, line: 1, "the first row is numbers; expected a header row of channel names")
        }
        let hasTime = ["time", "t", "seconds", "time_s"].contains(names[0].lowercased())
        guard hasTime || frameRate != nil else {
            throw InputError(file: file, line: 1, field: "--frame-rate", "no time column; give the frame rate with --frame-rate")
        }
        var times: [Double] = [], rows: [[Double]] = []
        for r in records.dropFirst() {
            if r.fields.count == 1 && r.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard r.fields.count == names.count else {
                throw InputError(file: file, line: r.line, "\(r.fields.count) columns; the header has \(names.count)")
            }
            var row: [Double] = []
            for (c, f) in r.fields.enumerated() {
                let x = try TextInput.number(Substring(f), file: file, line: r.line, column: names[c])
                if c == 0 && hasTime { times.append(x) } else { row.append(x) }
            }
            rows.append(row)
        }
        let channelNames = hasTime ? Array(names.dropFirst()) : names
        guard !channelNames.isEmpty else { throw InputError(file: file, line: 1, "no channel columns") }
        var rate = frameRate ?? 0
        var uniform = rows
        if hasTime { (rate, uniform) = try TextInput.uniform(times: times, rows: rows, file: file) }
        guard uniform.count >= 2 else { throw InputError(file: file, "a trial needs at least two frames, found \(uniform.count)") }
        let stem = Importers.stem(url)
        return try Trial(id: stem, participantID: Importers.participant(fromStem: stem), frameRate: rate,
                         channels: channelNames.map { Channel($0, unit: Importers.unit(forChannel: $0, angles: .degrees)) },
                         values: uniform.flatMap { $0.map(Float.init) }, sourceFile: file)
    }
}
