/// The kinds of plugin the framework knows, one per core protocol.
public enum PluginKind: String, Sendable, Codable, CaseIterable {
    case representation, tokenizer, backbone, adapter, task, baseline

    /// The protocol an implementation of this kind conforms to.
    public var protocolName: String {
        switch self {
        case .representation: return "MotionRepresentation"
        case .tokenizer: return "Tokenizer"
        case .backbone: return "LanguageBackbone"
        case .adapter: return "Adapter"
        case .task: return "TaskHead"
        case .baseline: return "BaselinePredictor"
        }
    }
}

/// One parameter a plugin accepts in its recipe section.
public struct ParameterSpec: Sendable, Codable, Equatable {
    public var name: String
    /// `int`, `double`, `bool`, `string`, `[string]`, `[int]`, or a choice `a|b|c`.
    public var type: String
    /// The default as YAML text; nil when required.
    public var defaultValue: String?
    public var summary: String

    public init(_ name: String, _ type: String, default defaultValue: String?, _ summary: String) {
        self.name = name; self.type = type; self.defaultValue = defaultValue; self.summary = summary
    }

    enum CodingKeys: String, CodingKey { case name, type, defaultValue = "default", summary }
}

/// What `biomechgpt plugins` lists about an implementation.
public struct PluginDescriptor: Sendable, Codable, Equatable {
    public var id: String
    public var kind: PluginKind
    public var summary: String
    public var parameters: [ParameterSpec]

    public init(id: String, kind: PluginKind, summary: String, parameters: [ParameterSpec]) {
        self.id = id; self.kind = kind; self.summary = summary; self.parameters = parameters
    }
}

/// Maps plugin ids to factories. The core defines it; registration happens outside the
/// core (the executable's plugin catalog), so adding an implementation never edits core code.
public struct PluginRegistry: Sendable {
    private struct Entry: Sendable {
        var descriptor: PluginDescriptor
        var make: @Sendable (PluginParameters) throws -> Any
    }

    private var entries: [PluginKind: [String: Entry]] = [:]

    public init() {}

    /// Registers a factory. Its product must conform to the kind's protocol; a mismatch
    /// is a programming error caught by the registry's own tests.
    public mutating func register(_ descriptor: PluginDescriptor, make: @escaping @Sendable (PluginParameters) throws -> Any) {
        precondition(entries[descriptor.kind]?[descriptor.id] == nil,
                     "plugin id '\(descriptor.id)' registered twice for \(descriptor.kind)")
        entries[descriptor.kind, default: [:]][descriptor.id] = Entry(descriptor: descriptor, make: make)
    }

    /// Every registered plugin, sorted by kind then id.
    public var descriptors: [PluginDescriptor] {
        PluginKind.allCases.flatMap { kind in (entries[kind] ?? [:]).values.map(\.descriptor).sorted { $0.id < $1.id } }
    }

    public func ids(of kind: PluginKind) -> [String] { (entries[kind] ?? [:]).keys.sorted() }

    public func descriptor(kind: PluginKind, id: String) -> PluginDescriptor? { entries[kind]?[id]?.descriptor }

    /// Builds the plugin `id` of `kind`. An unknown id, or a parameter the plugin does not
    /// declare, is an `InputError` located in the recipe that lists what exists.
    public func make<P>(_ kind: PluginKind, id: String, parameters: PluginParameters,
                        idLocation: ConfigValue? = nil, as type: P.Type = P.self) throws -> P {
        guard let entry = entries[kind]?[id] else {
            let at = idLocation ?? parameters.section ?? ConfigValue(.null)
            throw at.error(field: "\(parameters.path).id", "unknown \(kind.rawValue) plugin '\(id)'", allowed: ids(of: kind))
        }
        let declared = Set(entry.descriptor.parameters.map(\.name))
        for item in parameters.section?.entries ?? [] where item.key != "id" && !declared.contains(item.key) {
            throw InputError(file: item.keyLocation?.file, line: item.keyLocation?.line, column: item.keyLocation?.column,
                             field: "\(parameters.path).\(item.key)",
                             "'\(id)' has no parameter '\(item.key)'", allowed: entry.descriptor.parameters.map(\.name))
        }
        let product = try entry.make(parameters)
        guard let typed = product as? P else {
            preconditionFailure("plugin '\(id)' does not produce a \(P.self)")
        }
        return typed
    }
}
