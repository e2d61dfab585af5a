/// A clinical label of a trial: a category ("stroke", "walker") or a number (walking
/// speed in m/s, a TUG time in s). A missing label is simply absent from the map.
public enum LabelValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case category(String)
    case number(Double)

    public var category: String? { if case .category(let c) = self { return c } else { return nil } }
    public var number: Double? { if case .number(let x) = self { return x } else { return nil } }

    public var description: String {
        switch self {
        case .category(let c): return c
        case .number(let x): return String(x)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let x = try? container.decode(Double.self) { self = .number(x) } else { self = .category(try container.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .category(let c): try container.encode(c)
        case .number(let x): try container.encode(x)
        }
    }
}
