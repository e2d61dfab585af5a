/// Where a configuration value came from: file, line and column (1-based).
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) { self.file = file; self.line = line; self.column = column }
    public var description: String { "\(file):\(line):\(column)" }
}

/// A parsed configuration tree (from YAML) that remembers where each value was written,
/// so that every error about a recipe or a plugin parameter can name the file, line and
/// column. The core stays free of a YAML dependency: the recipes module builds these.
public struct ConfigValue: Sendable, Equatable {
    public indirect enum Node: Sendable, Equatable {
        case null
        /// A scalar as written; `quoted` scalars are always strings.
        case scalar(String, quoted: Bool)
        case sequence([ConfigValue])
        /// Keys in file order, each with its own location.
        case mapping([Entry])
    }

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var keyLocation: SourceLocation?
        public var value: ConfigValue
        public init(key: String, keyLocation: SourceLocation?, value: ConfigValue) {
            self.key = key; self.keyLocation = keyLocation; self.value = value
        }
    }

    public var node: Node
    public var location: SourceLocation?

    public init(_ node: Node, at location: SourceLocation? = nil) { self.node = node; self.location = location }

    public static func string(_ s: String) -> ConfigValue { ConfigValue(.scalar(s, quoted: true)) }
    public static func mapping(_ pairs: [(String, ConfigValue)]) -> ConfigValue {
        ConfigValue(.mapping(pairs.map { Entry(key: $0.0, keyLocation: nil, value: $0.1) }))
    }

    public var entries: [Entry]? { if case .mapping(let e) = node { return e } else { return nil } }
    public var elements: [ConfigValue]? { if case .sequence(let e) = node { return e } else { return nil } }
    public var scalarText: String? { if case .scalar(let s, _) = node { return s } else { return nil } }
    public var isNull: Bool { if case .null = node { return true } else { return false } }

    public subscript(key: String) -> ConfigValue? { entries?.first { $0.key == key }?.value }

    /// A short name of the node's kind for error messages.
    public var kindName: String {
        switch node {
        case .null: return "null"
        case .scalar: return "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    // MARK: Typed scalar interpretation (YAML 1.2 core schema)

    public var boolValue: Bool? {
        guard case .scalar(let s, let quoted) = node, !quoted else { return nil }
        switch s { case "true", "True", "TRUE": return true; case "false", "False", "FALSE": return false; default: return nil }
    }
    public var intValue: Int? {
        guard case .scalar(let s, let quoted) = node, !quoted else { return nil }
        return Int(s.replacingOccurrences(of: "_", with: ""))
    }
    public var doubleValue: Double? {
        guard case .scalar(let s, let quoted) = node, !quoted else { return nil }
        switch s {
        case ".inf", ".Inf", "+.inf": return .infinity
        case "-.inf", "-.Inf": return -.infinity
        case ".nan", ".NaN": return .nan
        default: return Double(s.replacingOccurrences(of: "_", with: ""))
        }
    }
    public var stringValue: String? {
        if case .scalar(let s, _) = node { return s } else { return nil }
    }

    /// This mapping's entries, checked so that every key belongs to `allowed`; the error
    /// names the first unknown key's line and column and lists the allowed keys.
    public func checkedEntries(field: String, allowed: [String]) throws -> [Entry] {
        guard let entries else { throw error(field: field, "expected a mapping, got \(kindName)") }
        for entry in entries where !allowed.contains(entry.key) {
            throw InputError(file: entry.keyLocation?.file ?? location?.file, line: entry.keyLocation?.line,
                             column: entry.keyLocation?.column,
                             field: field.isEmpty ? entry.key : "\(field).\(entry.key)",
                             "unknown key '\(entry.key)'", allowed: allowed)
        }
        return entries
    }

    /// An error located at this value.
    public func error(field: String?, _ message: String, allowed: [String] = []) -> InputError {
        InputError(file: location?.file, line: location?.line, column: location?.column,
                   field: field, message, allowed: allowed)
    }
}

/// A `Decoder` that decodes from a `ConfigValue` exposes it, so that types which keep
/// raw configuration (plugin sections) can take the subtree as it is.
public protocol ConfigValueDecoding: Decoder {
    var configValue: ConfigValue { get }
}

extension ConfigValue: Decodable {
    public init(from decoder: Decoder) throws {
        guard let source = decoder as? any ConfigValueDecoding else {
            throw DecodingError.typeMismatch(ConfigValue.self, .init(codingPath: decoder.codingPath,
                debugDescription: "ConfigValue decodes only from a configuration decoder"))
        }
        self = source.configValue
    }
}
