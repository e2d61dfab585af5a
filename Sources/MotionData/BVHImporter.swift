import BiomechCore
import Foundation

/// BioVision Hierarchy (.bvh): a HIERARCHY of ROOT/JOINT blocks with OFFSET and
/// CHANNELS (each joint's own order, e.g. `Zrotation Xrotation Yrotation`), then MOTION
/// with `Frames:`, `Frame Time:` and one line of all channels per frame. Channels are
/// named `<joint>_<channel>` (e.g. `Hips_Zrotation`); rotations are degrees, positions
/// unitless (BVH files use centimetres, metres or inches).
public enum BVHImporter {
    static let known = ["Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"]

    public static func read(_ url: URL) throws -> Trial {
        let file = url.path
        let lines = try TextInput.lines(url)
        guard let first = lines.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }),
              lines[first].trimmingCharacters(in: .whitespaces) == "HIERARCHY" else {
            throw InputError(file: file, line: 1, "expected 'HIERARCHY' on the first line of a BVH file")
        }
        var channels: [Channel] = []
        var stack: [String] = []
        var pendingJoint: String?
        var i = first + 1
        var motionLine = -1
        while i < lines.count {
            let tokens = lines[i].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            defer { i += 1 }
            guard let head = tokens.first else { continue }
            switch head {
            case "ROOT", "JOINT":
                guard tokens.count >= 2 else { throw InputError(file: file, line: i + 1, "\(head) without a name") }
                pendingJoint = tokens[1]
            case "End":
                pendingJoint = "End Site"
            case "{":
                guard let j = pendingJoint else { throw InputError(file: file, line: i + 1, "'{' without a ROOT, JOINT or End Site before it") }
                stack.append(j); pendingJoint = nil
            case "}":
                guard !stack.isEmpty else { throw InputError(file: file, line: i + 1, "unbalanced '}'") }
                stack.removeLast()
            case "OFFSET":
                guard tokens.count == 4, tokens.dropFirst().allSatisfy({ Double($0) != nil }) else {
                    throw InputError(file: file, line: i + 1, field: "OFFSET", "expected three numbers")
                }
            case "CHANNELS":
                guard let joint = stack.last, joint != "End Site" else {
                    throw InputError(file: file, line: i + 1, field: "CHANNELS", "CHANNELS outside a joint")
                }
                guard tokens.count >= 2, let n = Int(tokens[1]), n > 0, tokens.count == n + 2 else {
                    throw InputError(file: file, line: i + 1, field: "CHANNELS", "expected a count and that many channel names")
                }
                for c in tokens.dropFirst(2) {
                    guard known.contains(c) else {
                        throw InputError(file: file, line: i + 1, field: "\(joint).CHANNELS", "unknown channel '\(c)'", allowed: known)
                    }
                    channels.append(Channel("\(joint)_\(c)", unit: c.hasSuffix("rotation") ? .degrees : .unitless))
                }
                if Set(tokens.dropFirst(2)).count != n {
                    throw InputError(file: file, line: i + 1, field: "\(joint).CHANNELS", "a channel is listed twice")
                }
            case "MOTION":
                motionLine = i
            default:
                throw InputError(file: file, line: i + 1, "unexpected '\(head)' in the HIERARCHY section")
            }
            if motionLine >= 0 { break }
        }
        guard motionLine >= 0 else { throw InputError(file: file, line: lines.count, "no MOTION section (file truncated?)") }
        guard stack.isEmpty else { throw InputError(file: file, line: motionLine + 1, "unclosed '{' for joint \(stack.last!)") }
        guard !channels.isEmpty else { throw InputError(file: file, line: motionLine + 1, "the hierarchy declares no channels") }
        func header(_ k: Int, _ key: String) throws -> Double {
            guard k < lines.count else { throw InputError(file: file, line: k + 1, "missing '\(key)' line (file truncated?)") }
            let l = lines[k].trimmingCharacters(in: .whitespaces)
            guard l.hasPrefix(key) else { throw InputError(file: file, line: k + 1, "expected '\(key) …', got '\(l.prefix(40))'") }
            return try TextInput.number(Substring(l.dropFirst(key.count)), file: file, line: k + 1, column: key)
        }
        let frameValue = try header(motionLine + 1, "Frames:")
        // At most one frame per remaining line; anything else is a corrupt header.
        guard frameValue >= 0, frameValue <= Double(lines.count), frameValue == frameValue.rounded() else {
            throw InputError(file: file, line: motionLine + 2, field: "Frames",
                             "expected a whole number of frames, at most the \(lines.count) lines of the file, got \(frameValue)")
        }
        let frames = Int(frameValue)
        let frameTime = try header(motionLine + 2, "Frame Time:")
        guard frameTime > 0 else { throw InputError(file: file, line: motionLine + 3, field: "Frame Time", "must be positive, got \(frameTime)") }
        var values: [Float] = []
        values.reserveCapacity(frames * channels.count)
        var count = 0
        for k in (motionLine + 3)..<lines.count {
            let fields = lines[k].split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == channels.count else {
                throw InputError(file: file, line: k + 1, "\(fields.count) values; the hierarchy declares \(channels.count) channels")
            }
            for (c, f) in fields.enumerated() { values.append(Float(try TextInput.number(f, file: file, line: k + 1, column: channels[c].name))) }
            count += 1
        }
        guard count == frames else {
            throw InputError(file: file, line: lines.count, field: "Frames", "header says \(frames) frames but the file has \(count) (truncated?)")
        }
        let stem = Importers.stem(url)
        return try Trial(id: stem, participantID: Importers.participant(fromStem: stem), frameRate: 1 / frameTime,
                         channels: channels, values: values, sourceFile: file)
    }
}
