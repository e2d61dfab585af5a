import BiomechCore
import Foundation

/// UI-PRMD (Vakanski et al. 2018) Kinect joint angles: files `mMM_sSS_eEE_angles[_inc].txt[.gz]`
/// = exercise MM, subject SS, repetition EE, `_inc` (or an `incorrect/` folder) for the
/// incorrect performance; 66 comma-separated columns = 22 joints x 3 Euler angles
/// (degrees), 30 Hz, no header.
public enum UIPRMDImporter {
    public static let exercises = [
        "deep_squat", "hurdle_step", "inline_lunge", "side_lunge", "sit_to_stand",
        "standing_active_straight_leg_raise", "standing_shoulder_abduction", "standing_shoulder_extension",
        "standing_shoulder_internal_external_rotation", "standing_shoulder_scaption",
    ]
    /// Kinect v2 joints in the data set's column order.
    public static let joints = [
        "waist", "spine", "chest", "neck", "head", "head_tip",
        "left_collar", "left_upper_arm", "left_forearm", "left_hand",
        "right_collar", "right_upper_arm", "right_forearm", "right_hand",
        "left_upper_leg", "left_lower_leg", "left_foot", "left_leg_toes",
        "right_upper_leg", "right_lower_leg", "right_foot", "right_leg_toes",
    ]
    public static var channels: [Channel] { joints.flatMap { j in ["x", "y", "z"].map { Channel("\(j)_\($0)", unit: .degrees) } } }
    public static let frameRate = 30.0

    public struct FileName: Equatable { public var exercise: Int, subject: Int, repetition: Int, incorrect: Bool }

    /// Parses `mMM_sSS_eEE_angles[_inc]` (with .txt / .gz extensions); nil for other names.
    public static func parse(fileName: String) -> FileName? {
        var n = fileName
        for ext in [".gz", ".txt"] where n.hasSuffix(ext) { n = String(n.dropLast(ext.count)) }
        let parts = n.split(separator: "_")
        guard parts.count == 4 || parts.count == 5, parts[3] == "angles",
              parts[0].first == "m", parts[1].first == "s", parts[2].first == "e",
              let m = Int(parts[0].dropFirst()), let s = Int(parts[1].dropFirst()), let e = Int(parts[2].dropFirst()) else { return nil }
        if parts.count == 5 && parts[4] != "inc" { return nil }
        return FileName(exercise: m, subject: s, repetition: e, incorrect: parts.count == 5)
    }

    public static func read(_ inputs: [URL]) throws -> MotionDataset {
        let files = try TextInput.files(inputs) { $0.contains("_angles") && ($0.hasSuffix(".txt") || $0.hasSuffix(".txt.gz")) }
        var trials: [Trial] = []
        trials.reserveCapacity(files.count)
        for url in files { trials.append(try readFile(url)) }
        return MotionDataset(name: "ui-prmd", trials: trials, attributes: [
            "source": "UI-PRMD, Vakanski et al., Data 3(1):2, 2018 (Kinect v2 joint angles)",
            "licence": "Open Data Commons PDDL 1.0",
        ])
    }

    public static func readFile(_ url: URL) throws -> Trial {
        let file = url.path
        guard let name = parse(fileName: url.lastPathComponent) else {
            throw InputError(file: file, field: "file name", "expected mMM_sSS_eEE_angles[_inc].txt[.gz] (exercise, subject, repetition)")
        }
        guard (1...exercises.count).contains(name.exercise) else {
            throw InputError(file: file, field: "file name", "exercise m\(String(format: "%02d", name.exercise)) is not one of m01…m10")
        }
        let folder = url.deletingLastPathComponent().lastPathComponent.lowercased()
        if (folder == "correct" && name.incorrect) || (folder == "incorrect" && !name.incorrect) {
            throw InputError(file: file, field: "file name", "the name says \(name.incorrect ? "incorrect" : "correct") but the file is in the '\(folder)' folder")
        }
        let lines = try TextInput.lines(url)
        let width = joints.count * 3
        var values: [Float] = []
        values.reserveCapacity(lines.count * width)
        for (k, l) in lines.enumerated() {
            if l.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = l.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == width else {
                throw InputError(file: file, line: k + 1, "\(fields.count) columns; expected \(width) (22 joints x 3 angles)")
            }
            for (c, f) in fields.enumerated() {
                values.append(Float(try TextInput.number(f, file: file, line: k + 1, column: "\(joints[c / 3])_\(["x", "y", "z"][c % 3])")))
            }
        }
        guard values.count >= 2 * width else { throw InputError(file: file, "fewer than two frames (empty or truncated file)") }
        let subject = String(format: "s%02d", name.subject)
        let correctness = name.incorrect ? "incorrect" : "correct"
        let id = String(format: "m%02d_s%02d_e%02d_", name.exercise, name.subject, name.repetition) + correctness
        return try Trial(id: id, participantID: subject, frameRate: frameRate, channels: channels, values: values, labels: [
            "exercise": .category(exercises[name.exercise - 1]),
            "correctness": .category(correctness),
            "repetition": .number(Double(name.repetition)),
        ], sourceFile: file)
    }
}

/// FGDI (github.com/mcareyucd/FGDI): one time-normalised gait cycle (101 points, degrees)
/// per session, side and variable in `Amputee_Data.csv`, with `Amp_Info.csv` (amputees)
/// and `PDGinfo.csv` (Parkinson's) for the clinical labels. One trial per session and side.
///
/// Channels use OpenSim names and signs: Vicon's Pelvis/Hip/Knee/Ankle angles (Dim 1
/// frontal, 2 sagittal, 3 transverse) become pelvis_list / pelvis_tilt (negated: OpenSim
/// tilt is negative for anterior tilt) / pelvis_rotation, hip_adduction / hip_flexion /
/// hip_rotation, knee_angle (flexion negated), ankle_angle; foot progression is kept as
/// `foot_progression_<side>`. The frame rate is 100 (frames per 1 % of the cycle: the
/// cycle is not in seconds).
public enum FGDIImporter {
    public static func read(_ inputs: [URL]) throws -> MotionDataset {
        let files = try TextInput.files(inputs) { $0.hasSuffix(".csv") }
        guard let data = files.first(where: { $0.lastPathComponent == "Amputee_Data.csv" }) else {
            throw InputError(file: inputs.map(\.path).joined(separator: ", "), "no Amputee_Data.csv among the inputs (give the FGDI folder)")
        }
        let amp = try files.first { $0.lastPathComponent == "Amp_Info.csv" }.map(readInfo) ?? [:]
        let pd = try files.first { $0.lastPathComponent == "PDGinfo.csv" }.map(readInfo) ?? [:]
        let records = try TextInput.csvRecords(data)
        guard let header = records.first?.fields else { throw InputError(file: data.path, line: 1, "empty file") }
        func col(_ n: String) throws -> Int {
            guard let i = header.firstIndex(of: n) else { throw InputError(file: data.path, line: 1, field: n, "missing column") }
            return i
        }
        let cSession = try col("SessionID"), cSide = try col("Side"), cVar = try col("VariableName"), cDim = try col("Dim")
        let cFirst = try col("GCpc_0")
        let points = header.count - cFirst
        guard points >= 2 else { throw InputError(file: data.path, line: 1, "no GCpc_* columns") }
        struct Key: Hashable { var session: String; var side: String }
        var order: [Key] = []
        var curves: [Key: [(String, ChannelUnit, [Double])]] = [:]
        for r in records.dropFirst() {
            if r.fields.count == 1 && r.fields[0].isEmpty { continue }
            guard r.fields.count == header.count else {
                throw InputError(file: data.path, line: r.line, "\(r.fields.count) columns; the header has \(header.count)")
            }
            let side = r.fields[cSide].uppercased()
            guard side == "L" || side == "R" else {
                throw InputError(file: data.path, line: r.line, field: "Side", "expected L or R, got '\(r.fields[cSide])'", allowed: ["L", "R"])
            }
            let s = side == "L" ? "l" : "r"
            let variable = r.fields[cVar], dim = r.fields[cDim]
            guard let (name, sign) = channel(variable, dim, s) else {
                throw InputError(file: data.path, line: r.line, field: "VariableName/Dim", "unknown variable \(variable) dimension \(dim)")
            }
            var values: [Double] = []
            values.reserveCapacity(points)
            for c in cFirst..<header.count {
                values.append(sign * (try TextInput.number(Substring(r.fields[c]), file: data.path, line: r.line, column: header[c])))
            }
            let key = Key(session: r.fields[cSession], side: side == "L" ? "left" : "right")
            if curves[key] == nil { order.append(key); curves[key] = [] }
            if curves[key]!.contains(where: { $0.0 == name }) {
                throw InputError(file: data.path, line: r.line, field: name, "a second curve for \(key.session) \(key.side) \(name)")
            }
            curves[key]!.append((name, .degrees, values))
        }
        var trials: [Trial] = []
        for key in order {
            let cs = curves[key]!.sorted { a, b in (rank(a.0), a.0) < (rank(b.0), b.0) }
            var values = [Float](repeating: 0, count: points * cs.count)
            for (c, curve) in cs.enumerated() { for f in 0..<points { values[f * cs.count + c] = Float(curve.2[f]) } }
            let participant = String(key.session.split(separator: "_").first ?? Substring(key.session))
            var labels: [String: LabelValue] = ["side": .category(key.side)]
            labels.merge(sessionLabels(session: key.session, participant: participant, side: key.side, amp: amp, pd: pd)) { a, _ in a }
            trials.append(try Trial(id: "\(key.session)_\(key.side)", participantID: participant, frameRate: 100,
                                    channels: cs.map { Channel($0.0, unit: $0.1) }, values: values, labels: labels,
                                    sourceFile: data.path))
        }
        return MotionDataset(name: "fgdi", trials: trials, attributes: [
            "source": "FGDI, github.com/mcareyucd/FGDI (Shida et al. 2023; Hood et al. 2020; Fukuchi et al. 2018)",
            "licence": "CC BY 4.0 (source data sets)",
            "time_base": "each trial is one gait cycle time-normalised to 101 points; frame_rate 100 = 1 % of the cycle per frame",
        ])
    }

    static func rank(_ n: String) -> Int {
        ["pelvis_tilt", "pelvis_list", "pelvis_rotation", "hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle", "foot_progression"]
            .firstIndex { n.hasPrefix($0) } ?? 99
    }

    static func channel(_ variable: String, _ dim: String, _ s: String) -> (String, Double)? {
        switch (variable, dim) {
        case ("PelvisAngles", "1"): return ("pelvis_list", 1)
        case ("PelvisAngles", "2"): return ("pelvis_tilt", -1)
        case ("PelvisAngles", "3"): return ("pelvis_rotation", 1)
        case ("HipAngles", "1"): return ("hip_adduction_\(s)", 1)
        case ("HipAngles", "2"): return ("hip_flexion_\(s)", 1)
        case ("HipAngles", "3"): return ("hip_rotation_\(s)", 1)
        case ("KneeAngles", "1"): return ("knee_adduction_\(s)", 1)
        case ("KneeAngles", "2"): return ("knee_angle_\(s)", -1)
        case ("KneeAngles", "3"): return ("knee_rotation_\(s)", 1)
        case ("AnkleAngles", "2"): return ("ankle_angle_\(s)", 1)
        case ("AnkleAngles", "1"): return ("ankle_inversion_\(s)", 1)
        case ("AnkleAngles", "3"): return ("ankle_rotation_\(s)", 1)
        case ("FootProgressAngles", "3"): return ("foot_progression_\(s)", 1)
        default: return nil
        }
    }

    /// Rows of an info CSV keyed by its first column (the subject code).
    static func readInfo(_ url: URL) throws -> [String: [String: String]] {
        let records = try TextInput.csvRecords(url)
        guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }) else { return [:] }
        var out: [String: [String: String]] = [:]
        for r in records.dropFirst() {
            let id = r.fields.first?.trimmingCharacters(in: .whitespaces) ?? ""
            if id.isEmpty { continue }
            guard r.fields.count == header.count else {
                throw InputError(file: url.path, line: r.line, "\(r.fields.count) columns; the header has \(header.count)")
            }
            var row: [String: String] = [:]
            for (k, v) in zip(header, r.fields) { row[k] = v.trimmingCharacters(in: .whitespaces) }
            out[id] = row
        }
        return out
    }

    static func snake(_ s: String) -> String {
        var out = ""
        for c in s.lowercased() { out.append(c.isLetter || c.isNumber ? c : "_") }
        while out.contains("__") { out = out.replacingOccurrences(of: "__", with: "_") }
        return out.trimmingCharacters(in: CharacterSet(charactersIn: "_"))
    }

    static func sessionLabels(session: String, participant: String, side: String,
                              amp: [String: [String: String]], pd: [String: [String: String]]) -> [String: LabelValue] {
        var l: [String: LabelValue] = [:]
        func num(_ s: String?) -> LabelValue? {
            guard let s, let x = Double(s), x.isFinite else { return nil }
            return .number(x)
        }
        if session.hasPrefix("SUB") {
            l["group"] = .category("parkinsons")
            let on = session.lowercased().hasSuffix("_on")
            l["medication"] = .category(on ? "on" : "off")
            if let row = pd[participant] {
                let p = on ? "ON - " : "OFF - "
                if let f = row["FoG group"] { l["freezer"] = .category(f.hasPrefix("non") ? "non_freezer" : "freezer") }
                l["updrs3"] = num(row[p + "UPDRS-III"])
                l["minibestest"] = num(row[p + "mini-BESTest"])
                l["hoehn_yahr"] = num(row[p + "Hoehn & Yahr"])
                l["age"] = num(row["Age"])
                if let g = row["Gender"] { l["sex"] = .category(g.hasPrefix("F") ? "female" : "male") }
            }
        } else if session.hasPrefix("TF") {
            l["group"] = .category("amputee")
            l["amputation_level"] = .category("transfemoral")
            if let row = amp[participant] {
                if let e = row["Etiology"] { l["etiology"] = .category(snake(e)) }
                if let k = row["K-Level"] { l["k_level"] = .category(k.lowercased()) }
                if let k = row["Prescribed Prosthesis Knee"] { l["prosthetic_knee"] = .category(snake(k)) }
                if let a = row["Prescribed Prosthesis Ankle"] { l["prosthetic_ankle"] = .category(snake(a)) }
                if let s = row["Socket Suspension"] { l["socket"] = .category(snake(s)) }
                if let h = row["Hand-rails?"] { l["handrail"] = .category(h.lowercased().hasPrefix("yes") ? "yes" : "no") }
                if let a = row["Amputation side"] {
                    l["amputation_side"] = .category(a.lowercased())
                    l["limb"] = .category(a.lowercased() == side ? "prosthetic" : "intact")
                }
                l["age"] = num(row["Age(yrs)"])
                if let g = row["Gender"] { l["sex"] = .category(g.lowercased().hasPrefix("f") ? "female" : "male") }
            }
        } else {
            l["group"] = .category("healthy")
        }
        return l.compactMapValues { $0 }
    }
}
