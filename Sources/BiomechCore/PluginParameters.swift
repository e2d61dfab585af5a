/// The parameters a recipe gives a plugin (its section minus `id`), with typed getters
/// whose errors name the recipe file, line, column and key.
///
/// Factories read their parameters with `int(_:default:)`, `double`, `string`, `bool`,
/// `strings`; the registry has already rejected any key the plugin does not declare.
public struct PluginParameters: Sendable {
    /// The plugin section (a mapping), or nil when the recipe gave none.
    public let section: ConfigValue?
    /// The dotted path of the section in the recipe (`tokenizer`, `baselines[0]`), for errors.
    public let path: String

    public init(section: ConfigValue?, path: String) { self.section = section; self.path = path }

    /// Parameters given in code (tests, commands): each value is written as its text.
    public init(_ values: [String: String], path: String = "parameters") {
        self.section = ConfigValue.mapping(values.sorted { $0.key < $1.key }.map { ($0.key, ConfigValue(.scalar($0.value, quoted: false))) })
        self.path = path
    }

    public static let empty = PluginParameters(section: nil, path: "parameters")

    public var keys: [String] { section?.entries?.map(\.key) ?? [] }

    private func value(_ key: String) -> ConfigValue? {
        guard let v = section?[key], !v.isNull else { return nil }
        return v
    }

    private func wrongType(_ key: String, _ v: ConfigValue, _ expected: String) -> InputError {
        v.error(field: "\(path).\(key)", "expected \(expected), got '\(v.stringValue ?? v.kindName)'")
    }

    public func int(_ key: String, default fallback: Int) throws -> Int {
        guard let v = value(key) else { return fallback }
        guard let x = v.intValue else { throw wrongType(key, v, "an integer") }
        return x
    }

    /// A seed: a non-negative integer.
    public func seed(_ key: String = "seed", default fallback: UInt64) throws -> UInt64 {
        let s = try int(key, default: Int(clamping: fallback))
        guard s >= 0 else { throw error(key, "expected a non-negative integer, got \(s)") }
        return UInt64(s)
    }

    public func double(_ key: String, default fallback: Double) throws -> Double {
        guard let v = value(key) else { return fallback }
        guard let x = v.doubleValue else { throw wrongType(key, v, "a number") }
        return x
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let v = value(key) else { return fallback }
        guard let x = v.boolValue else { throw wrongType(key, v, "true or false") }
        return x
    }

    public func string(_ key: String, default fallback: String) throws -> String {
        guard let v = value(key) else { return fallback }
        guard let x = v.stringValue else { throw wrongType(key, v, "a string") }
        return x
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let x = v.stringValue else { throw wrongType(key, v, "a string") }
        return x
    }

    /// One of a closed set of strings.
    public func choice(_ key: String, from allowed: [String], default fallback: String) throws -> String {
        let x = try string(key, default: fallback)
        guard allowed.contains(x) else {
            throw (value(key) ?? ConfigValue(.null)).error(field: "\(path).\(key)", "unknown value '\(x)'", allowed: allowed)
        }
        return x
    }

    public func strings(_ key: String, default fallback: [String]) throws -> [String] {
        guard let v = value(key) else { return fallback }
        if let s = v.stringValue { return [s] }
        guard let items = v.elements else { throw wrongType(key, v, "a list of strings") }
        return try items.map { item in
            guard let s = item.stringValue else { throw wrongType(key, item, "a string") }
            return s
        }
    }

    public func ints(_ key: String, default fallback: [Int]) throws -> [Int] {
        guard let v = value(key) else { return fallback }
        if let x = v.intValue { return [x] }
        guard let items = v.elements else { throw wrongType(key, v, "a list of integers") }
        return try items.map { item in
            guard let x = item.intValue else { throw wrongType(key, item, "an integer") }
            return x
        }
    }

    /// A positive integer, with a located error otherwise.
    public func positiveInt(_ key: String, default fallback: Int) throws -> Int {
        let x = try int(key, default: fallback)
        guard x > 0 else { throw (value(key) ?? ConfigValue(.null)).error(field: "\(path).\(key)", "expected a positive integer, got \(x)") }
        return x
    }

    /// An error located at a key (or at the section when the key is absent).
    public func error(_ key: String, _ message: String, allowed: [String] = []) -> InputError {
        (value(key) ?? section ?? ConfigValue(.null)).error(field: "\(path).\(key)", message, allowed: allowed)
    }
}
