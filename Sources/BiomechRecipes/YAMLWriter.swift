import BiomechCore

/// Writes a `ConfigValue` back as YAML (for `recipe show` and the run directory's
/// resolved `recipe.yaml`). Strings that YAML would read as another type are quoted.
public enum YAMLWriter {
    public static func write(_ value: ConfigValue) -> String {
        var out = ""
        emit(value, indent: 0, into: &out, inline: false)
        return out
    }

    private static func emit(_ value: ConfigValue, indent: Int, into out: inout String, inline: Bool) {
        let pad = String(repeating: "  ", count: indent)
        switch value.node {
        case .null: out += "null\n"
        case .scalar(let s, let quoted): out += scalar(s, quoted: quoted) + "\n"
        case .sequence(let items):
            if items.isEmpty { out += "[]\n"; return }
            if items.allSatisfy({ if case .scalar = $0.node { return true } else { return false } }) {
                out += "[" + items.map { scalar($0.stringValue ?? "", quoted: { if case .scalar(_, let q) = $0.node { return q } else { return false } }($0)) }.joined(separator: ", ") + "]\n"
                return
            }
            if inline { out += "\n" }
            for item in items {
                out += pad + "- "
                if case .mapping(let entries) = item.node, !entries.isEmpty {
                    var first = true
                    for entry in entries {
                        if !first { out += pad + "  " }
                        first = false
                        out += key(entry.key) + ":"
                        emitValue(entry.value, indent: indent + 2, into: &out)
                    }
                } else {
                    emit(item, indent: indent + 1, into: &out, inline: false)
                }
            }
        case .mapping(let entries):
            if entries.isEmpty { out += "{}\n"; return }
            if inline { out += "\n" }
            for entry in entries {
                out += pad + key(entry.key) + ":"
                emitValue(entry.value, indent: indent + 1, into: &out)
            }
        }
    }

    private static func emitValue(_ value: ConfigValue, indent: Int, into out: inout String) {
        switch value.node {
        case .mapping(let e) where !e.isEmpty: emit(value, indent: indent, into: &out, inline: true)
        case .sequence(let items) where items.contains(where: { if case .scalar = $0.node { return false } else { return true } }):
            emit(value, indent: indent, into: &out, inline: true)
        default:
            out += " "
            emit(value, indent: indent, into: &out, inline: false)
        }
    }

    private static func key(_ k: String) -> String { needsQuotes(k) ? quote(k) : k }

    private static func scalar(_ s: String, quoted: Bool) -> String {
        if quoted {
            // Keep the quotes only where the plain text would change meaning.
            let plain = ConfigValue(.scalar(s, quoted: false))
            if plain.intValue != nil || plain.doubleValue != nil || plain.boolValue != nil || needsQuotes(s) { return quote(s) }
            return s
        }
        return needsQuotes(s) ? quote(s) : s
    }

    private static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty || ["~", "null", "Null", "NULL", "yes", "no", "on", "off"].contains(s) { return true }
        if s.first == " " || s.last == " " { return true }
        let special: Set<Character> = [":", "#", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", "\n"]
        if let first = s.first, special.contains(first) || first == "-" && s.count > 1 && s.dropFirst().first == " " { return true }
        return s.contains(": ") || s.contains(" #") || s.contains("\n")
    }

    private static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
