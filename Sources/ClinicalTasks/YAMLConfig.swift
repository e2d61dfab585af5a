import BiomechCore
import Foundation
import Yams

/// Reads YAML text into a `ConfigValue` tree that remembers the line and column of every
/// value, so task files can be validated strictly with located errors.
///
/// Scalars keep their text as written (`yes` stays the string "yes", not a boolean):
/// labels such as `impaired: yes` compare as text with the data set's labels.
public enum YAMLConfig {
    public static func parse(_ text: String, file: String) throws -> ConfigValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw inputError(error, file: file)
        } catch {
            throw InputError(file: file, "could not read YAML: \(error)")
        }
        guard let root else { return ConfigValue(.null, at: SourceLocation(file: file, line: 1, column: 1)) }
        return try convert(root, file: file)
    }

    public static func load(_ url: URL) throws -> ConfigValue {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw InputError(file: url.path, "could not read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: url.path)
    }

    static func location(_ mark: Mark?, _ file: String) -> SourceLocation? {
        mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    static func convert(_ node: Node, file: String) throws -> ConfigValue {
        let at = location(node.mark, file)
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
                || scalar.style == .literal || scalar.style == .folded
            if !quoted, ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return ConfigValue(.null, at: at) }
            return ConfigValue(.scalar(scalar.string, quoted: quoted), at: at)
        case .sequence(let sequence):
            return ConfigValue(.sequence(try sequence.map { try convert($0, file: file) }), at: at)
        case .mapping(let mapping):
            var entries: [ConfigValue.Entry] = []
            var seen: Set<String> = []
            for (key, value) in mapping {
                guard case .scalar(let k) = key else {
                    throw InputError(file: file, line: key.mark?.line, column: key.mark?.column,
                                     "a mapping key must be a plain scalar")
                }
                if !seen.insert(k.string).inserted {
                    throw InputError(file: file, line: key.mark?.line, column: key.mark?.column,
                                     field: k.string, "duplicate key")
                }
                entries.append(.init(key: k.string, keyLocation: location(key.mark, file),
                                     value: try convert(value, file: file)))
            }
            return ConfigValue(.mapping(entries), at: at)
        case .alias:
            throw InputError(file: file, line: node.mark?.line, column: node.mark?.column,
                             "YAML aliases are not supported in task files")
        }
    }

    static func inputError(_ error: YamlError, file: String) -> InputError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return InputError(file: file, line: mark.line, column: mark.column, "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return InputError(file: file, line: context.mark.line, column: context.mark.column,
                              field: duplicates.joined(separator: ", "), "duplicate key")
        default:
            return InputError(file: file, "invalid YAML: \(error)")
        }
    }
}

extension ConfigValue {
    /// Checks that this value is a mapping whose keys all belong to `allowed`; the error
    /// names the first unknown key's line and column and lists the allowed keys.
    func checkedEntries(field: String, allowed: [String]) throws -> [ConfigValue.Entry] {
        guard let entries else { throw error(field: field, "expected a mapping, got \(kindName)") }
        for entry in entries where !allowed.contains(entry.key) {
            throw InputError(file: entry.keyLocation?.file ?? location?.file, line: entry.keyLocation?.line,
                             column: entry.keyLocation?.column,
                             field: field.isEmpty ? entry.key : "\(field).\(entry.key)",
                             "unknown key '\(entry.key)'", allowed: allowed)
        }
        return entries
    }
}
