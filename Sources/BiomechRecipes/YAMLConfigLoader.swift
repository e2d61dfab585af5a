import BiomechCore
import Foundation
import Yams

/// Parses YAML text into a `ConfigValue` tree that remembers file, line and column.
public enum YAMLConfigLoader {
    public static func load(file url: URL, displayName: String? = nil) throws -> ConfigValue {
        let name = displayName ?? url.path
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw InputError(file: name, "cannot read the file (does it exist?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: name, "the file is not UTF-8 text")
        }
        return try parse(text, file: name)
    }

    public static func parse(_ text: String, file: String) throws -> ConfigValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Self.located(error, file: file)
        } catch {
            throw InputError(file: file, "could not read YAML: \(error)")
        }
        guard let root else { return ConfigValue(.mapping([]), at: SourceLocation(file: file, line: 1, column: 1)) }
        return try convert(root, file: file)
    }

    private static func location(_ node: Node, _ file: String) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    private static func convert(_ node: Node, file: String) throws -> ConfigValue {
        let at = location(node, file)
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                return ConfigValue(.null, at: at)
            }
            return ConfigValue(.scalar(scalar.string, quoted: scalar.style != .plain), at: at)
        case .sequence(let sequence):
            return ConfigValue(.sequence(try sequence.map { try convert($0, file: file) }), at: at)
        case .mapping(let mapping):
            var entries: [ConfigValue.Entry] = []
            for (key, value) in mapping {
                guard case .scalar(let k) = key else {
                    throw InputError(file: file, line: key.mark?.line, column: key.mark?.column, "mapping keys must be plain strings")
                }
                if entries.contains(where: { $0.key == k.string }) {
                    throw InputError(file: file, line: key.mark?.line, column: key.mark?.column, field: k.string,
                                     "key appears twice in the same mapping")
                }
                entries.append(.init(key: k.string, keyLocation: location(key, file), value: try convert(value, file: file)))
            }
            return ConfigValue(.mapping(entries), at: at)
        case .alias:
            throw InputError(file: file, line: at?.line, column: at?.column, "YAML aliases are not supported in recipes; use `extends:` instead")
        }
    }

    private static func located(_ error: YamlError, file: String) -> InputError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return InputError(file: file, line: mark.line, column: mark.column, "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return InputError(file: file, line: context.mark.line, column: context.mark.column,
                              field: duplicates.joined(separator: ", "), "key appears twice in the same mapping")
        default:
            return InputError(file: file, "invalid YAML: \(error)")
        }
    }
}
