import BiomechCore
import Foundation

/// A strict `Decoder` over a `ConfigValue` tree.
///
/// Strict means: a key that the target type does not declare is an error (when its
/// `CodingKeys` are `CaseIterable`, which every recipe type's are), so a typo never passes
/// silently; every error is an `InputError` naming file, line, column, the key path and
/// the allowed keys or values.
public enum ConfigDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, from value: ConfigValue) throws -> T {
        try T(from: ConfigValueDecoder(value: value, codingPath: []))
    }
}

/// A string enum decoded from configuration: an unknown value lists the allowed ones.
public protocol ConfigEnum: RawRepresentable, CaseIterable, Decodable, Sendable where RawValue == String {}

extension ConfigEnum {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            let allowed = Self.allCases.map(\.rawValue)
            if let source = decoder as? any ConfigValueDecoding {
                throw source.configValue.error(field: pathString(decoder.codingPath), "unknown value '\(text)'", allowed: allowed)
            }
            throw InputError(field: pathString(decoder.codingPath), "unknown value '\(text)'", allowed: allowed)
        }
        self = value
    }
}

func pathString(_ path: [CodingKey]) -> String {
    var text = ""
    for key in path {
        if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
    }
    return text
}

struct IndexKey: CodingKey {
    var stringValue: String { String(intValue ?? 0) }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

final class ConfigValueDecoder: ConfigValueDecoding {
    let configValue: ConfigValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: ConfigValue, codingPath: [CodingKey]) { self.configValue = value; self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let entries = configValue.entries else {
            throw configValue.error(field: pathString(codingPath), "expected a mapping of keys, got \(configValue.kindName)")
        }
        if let keyType = Key.self as? any CaseIterable.Type {
            let allowed = (keyType.allCases as any Collection).compactMap { ($0 as? CodingKey)?.stringValue }
            for entry in entries where !allowed.contains(entry.key) {
                let place = entry.keyLocation
                let field = pathString(codingPath + [AnyKey(entry.key)])
                let hint = Self.nearest(entry.key, in: allowed).map { " — did you mean '\($0)'?" } ?? ""
                throw InputError(file: place?.file, line: place?.line, column: place?.column, field: field,
                                 "unknown key '\(entry.key)'\(hint)", allowed: allowed)
            }
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, entries: entries))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard let items = configValue.elements else {
            throw configValue.error(field: pathString(codingPath), "expected a list, got \(configValue.kindName)")
        }
        return UnkeyedContainer(decoder: self, items: items)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleContainer(decoder: self) }

    /// The allowed key closest in edit distance, for "did you mean".
    static func nearest(_ word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var previous = row[0]; row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let current = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = current
                }
            }
            return row[b.count]
        }
        let w = Array(word)
        let best = candidates.map { ($0, distance(w, Array($0))) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    func scalar<T>(_ type: T.Type, _ expected: String, _ convert: (ConfigValue) -> T?) throws -> T {
        guard case .scalar = configValue.node, let value = convert(configValue) else {
            let got = configValue.stringValue.map { "'\($0)'" } ?? configValue.kindName
            throw configValue.error(field: pathString(codingPath), "expected \(expected), got \(got)")
        }
        return value
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ConfigValueDecoder
    let entries: [ConfigValue.Entry]
    var codingPath: [CodingKey] { decoder.codingPath }
    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { entries.contains { $0.key == key.stringValue } }

    private func child(_ key: Key) throws -> ConfigValueDecoder {
        guard let entry = entries.first(where: { $0.key == key.stringValue }) else {
            throw decoder.configValue.error(field: pathString(codingPath + [key]), "missing required key '\(key.stringValue)'")
        }
        return ConfigValueDecoder(value: entry.value, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let entry = entries.first(where: { $0.key == key.stringValue }) else { return true }
        return entry.value.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let d = try child(key)
        if d.configValue.isNull, !(T.self is ConfigValue.Type) {
            throw d.configValue.error(field: pathString(d.codingPath), "a value is required here (got null)")
        }
        return try T(from: d)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ConfigValueDecoder
    let items: [ConfigValue]
    var currentIndex = 0
    var codingPath: [CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(decoder: ConfigValueDecoder, items: [ConfigValue]) { self.decoder = decoder; self.items = items }

    private mutating func next() throws -> ConfigValueDecoder {
        guard !isAtEnd else { throw decoder.configValue.error(field: pathString(codingPath), "the list has too few items") }
        defer { currentIndex += 1 }
        return ConfigValueDecoder(value: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        if !isAtEnd, items[currentIndex].isNull { currentIndex += 1; return true }
        return false
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next()) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

private struct SingleContainer: SingleValueDecodingContainer {
    let decoder: ConfigValueDecoder
    var codingPath: [CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.configValue.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.scalar(type, "true or false") { $0.boolValue } }
    func decode(_ type: String.Type) throws -> String { try decoder.scalar(type, "a string") { $0.stringValue } }
    func decode(_ type: Double.Type) throws -> Double { try decoder.scalar(type, "a number") { $0.doubleValue } }
    func decode(_ type: Float.Type) throws -> Float { try decoder.scalar(type, "a number") { $0.doubleValue.map(Float.init) } }
    func decode(_ type: Int.Type) throws -> Int { try decoder.scalar(type, "an integer") { $0.intValue } }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: decoder) }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try decoder.scalar(type, "a non-negative integer no larger than \(T.max)") { value in
            guard case .scalar(let text, false) = value.node else { return nil }
            return T(text.replacingOccurrences(of: "_", with: ""))
        }
    }
}
