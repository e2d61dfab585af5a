import BiomechCore

/// A recipe section that chooses a plugin: `id` plus that plugin's own parameters.
///
/// ```yaml
/// tokenizer:
///   id: vqvae
///   codebook_size: 512
/// ```
/// The parameters are kept as written (with their locations); the registry checks them
/// against the plugin's declared parameters.
public struct PluginSpec: Decodable, Sendable, Equatable {
    public var id: String
    public var section: ConfigValue
    /// Where in the recipe this section is (`tokenizer`, `baselines[1]`).
    public var path: String

    public init(id: String, parameters: [String: String] = [:], path: String) {
        self.id = id
        self.section = ConfigValue.mapping([("id", .string(id))] + parameters.sorted { $0.key < $1.key }.map {
            ($0.key, ConfigValue(.scalar($0.value, quoted: false)))
        })
        self.path = path
    }

    public init(from decoder: Decoder) throws {
        let value = try ConfigValue(from: decoder)
        let path = pathString(decoder.codingPath)
        // A bare string is shorthand for `{id: name}` with default parameters.
        if let id = value.stringValue {
            self.id = id; self.section = ConfigValue(.mapping([.init(key: "id", keyLocation: value.location, value: value)]), at: value.location)
            self.path = path
            return
        }
        guard value.entries != nil else {
            throw value.error(field: path, "expected a plugin section (a mapping with 'id') or a plugin id")
        }
        guard let idValue = value["id"] else { throw value.error(field: "\(path).id", "missing required key 'id' (the plugin to use)") }
        guard let id = idValue.stringValue else { throw idValue.error(field: "\(path).id", "expected a plugin id") }
        self.id = id; self.section = value; self.path = path
    }

    /// The plugin's parameters (the section without `id`).
    public var parameters: PluginParameters {
        var trimmed = section
        if let entries = section.entries { trimmed.node = .mapping(entries.filter { $0.key != "id" }) }
        return PluginParameters(section: trimmed, path: path)
    }

    /// The `id` value, for errors located at it.
    public var idValue: ConfigValue? { section["id"] }
}

extension PluginRegistry {
    /// Builds the plugin a recipe section names.
    public func make<P>(_ kind: PluginKind, _ spec: PluginSpec, as type: P.Type = P.self) throws -> P {
        try make(kind, id: spec.id, parameters: spec.parameters, idLocation: spec.idValue, as: type)
    }

    /// Checks a section without building the plugin: the id exists, every key is a
    /// declared parameter, and every value has the declared type.
    public func validate(_ kind: PluginKind, _ spec: PluginSpec) throws {
        guard let descriptor = descriptor(kind: kind, id: spec.id) else {
            throw (spec.idValue ?? spec.section).error(field: "\(spec.path).id", "unknown \(kind.rawValue) plugin '\(spec.id)'",
                                                        allowed: ids(of: kind))
        }
        let parameters = spec.parameters
        for entry in parameters.section?.entries ?? [] {
            guard let declared = descriptor.parameters.first(where: { $0.name == entry.key }) else {
                throw InputError(file: entry.keyLocation?.file, line: entry.keyLocation?.line, column: entry.keyLocation?.column,
                                 field: "\(spec.path).\(entry.key)", "'\(spec.id)' has no parameter '\(entry.key)'",
                                 allowed: descriptor.parameters.map(\.name))
            }
            try ParameterTypeCheck.check(entry.value, against: declared, path: "\(spec.path).\(entry.key)")
        }
    }
}

/// Checks a value against a `ParameterSpec.type` string.
enum ParameterTypeCheck {
    static func check(_ value: ConfigValue, against spec: ParameterSpec, path: String) throws {
        if value.isNull { return }
        let type = spec.type
        func fail(_ expected: String, allowed: [String] = []) -> InputError {
            value.error(field: path, "expected \(expected), got '\(value.stringValue ?? value.kindName)'", allowed: allowed)
        }
        switch type {
        case "int": if value.intValue == nil { throw fail("an integer") }
        case "double": if value.doubleValue == nil { throw fail("a number") }
        case "bool": if value.boolValue == nil { throw fail("true or false") }
        case "string": if value.stringValue == nil { throw fail("a string") }
        case "[string]":
            if value.stringValue == nil, value.elements?.allSatisfy({ $0.stringValue != nil }) != true { throw fail("a list of strings") }
        case "[int]":
            if value.intValue == nil, value.elements?.allSatisfy({ $0.intValue != nil }) != true { throw fail("a list of integers") }
        case "[double]":
            if value.doubleValue == nil, value.elements?.allSatisfy({ $0.doubleValue != nil }) != true { throw fail("a list of numbers") }
        case _ where type.contains("|"):
            // Alternatives are literal values, or a type name (`double|auto`: a number or 'auto').
            let choices = type.split(separator: "|").map(String.init)
            if choices.contains("int"), value.intValue != nil { return }
            if choices.contains("double"), value.doubleValue != nil { return }
            guard let s = value.stringValue, choices.contains(s) else { throw fail("one of the listed values", allowed: choices) }
        default: break
        }
    }
}
