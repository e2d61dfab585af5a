import BiomechCore

/// The value types of GGUF metadata, as numbered in the file.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    public var name: String { String(describing: self) }
}

/// One metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// The value as an `Int`, for any integer type that fits.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a `Double`, for floating-point and integer types.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var boolValue: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    public var stringValue: String? { if case .string(let v) = self { return v } else { return nil } }
    public var arrayValue: GGUFArray? { if case .array(let v) = self { return v } else { return nil } }
}

/// A metadata array: all elements share one type, stored unboxed.
public enum GGUFArray: Sendable, Equatable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16])
    case uint32([UInt32]), int32([Int32]), uint64([UInt64]), int64([Int64])
    case float32([Float]), float64([Double])
    case bool([Bool])
    case string([String])
    case array([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    public var count: Int {
        switch self {
        case .uint8(let a): return a.count
        case .int8(let a): return a.count
        case .uint16(let a): return a.count
        case .int16(let a): return a.count
        case .uint32(let a): return a.count
        case .int32(let a): return a.count
        case .uint64(let a): return a.count
        case .int64(let a): return a.count
        case .float32(let a): return a.count
        case .float64(let a): return a.count
        case .bool(let a): return a.count
        case .string(let a): return a.count
        case .array(let a): return a.count
        }
    }

    /// Integer elements as `Int` (nil for non-integer arrays or values that do not fit).
    public var intValues: [Int]? {
        switch self {
        case .uint8(let a): return a.map(Int.init)
        case .int8(let a): return a.map(Int.init)
        case .uint16(let a): return a.map(Int.init)
        case .int16(let a): return a.map(Int.init)
        case .uint32(let a): return a.map(Int.init)
        case .int32(let a): return a.map(Int.init)
        case .int64(let a): return a.map(Int.init)
        case .uint64(let a):
            var out: [Int] = []; out.reserveCapacity(a.count)
            for v in a { guard let i = Int(exactly: v) else { return nil }; out.append(i) }
            return out
        default: return nil
        }
    }

    /// Floating-point elements as `Float` (integers are converted too).
    public var floatValues: [Float]? {
        switch self {
        case .float32(let a): return a
        case .float64(let a): return a.map(Float.init)
        default: return intValues?.map(Float.init)
        }
    }

    public var stringValues: [String]? { if case .string(let a) = self { return a } else { return nil } }
    public var boolValues: [Bool]? { if case .bool(let a) = self { return a } else { return nil } }
}

/// The key–value metadata of a GGUF file, in file order.
///
/// Typed accessors return nil when a key is absent and throw an ``InputError`` naming the
/// file and key when it is present with the wrong type; `require…` variants also throw
/// when the key is absent.
public struct GGUFMetadata: Sendable, Equatable {
    /// Keys in the order the file lists them.
    public let keys: [String]
    public let values: [String: GGUFValue]
    /// The file the metadata came from (for error messages).
    public let file: String

    public init(keys: [String], values: [String: GGUFValue], file: String) {
        self.keys = keys; self.values = values; self.file = file
    }

    public subscript(key: String) -> GGUFValue? { values[key] }
    public func contains(_ key: String) -> Bool { values[key] != nil }
    public var count: Int { keys.count }

    private func mismatch(_ key: String, _ expected: String, _ value: GGUFValue) -> InputError {
        InputError(file: file, field: key, "expected \(expected), found a value of type \(value.type.name)")
    }
    private func missing(_ key: String, _ expected: String) -> InputError {
        InputError(file: file, field: key, "required metadata key is missing (expected \(expected))")
    }

    public func int(_ key: String) throws -> Int? {
        guard let value = values[key] else { return nil }
        guard let v = value.intValue else { throw mismatch(key, "an integer", value) }
        return v
    }
    public func double(_ key: String) throws -> Double? {
        guard let value = values[key] else { return nil }
        guard let v = value.doubleValue else { throw mismatch(key, "a number", value) }
        return v
    }
    public func float(_ key: String) throws -> Float? { try double(key).map(Float.init) }
    public func bool(_ key: String) throws -> Bool? {
        guard let value = values[key] else { return nil }
        guard let v = value.boolValue else { throw mismatch(key, "a bool", value) }
        return v
    }
    public func string(_ key: String) throws -> String? {
        guard let value = values[key] else { return nil }
        guard let v = value.stringValue else { throw mismatch(key, "a string", value) }
        return v
    }
    public func array(_ key: String) throws -> GGUFArray? {
        guard let value = values[key] else { return nil }
        guard let v = value.arrayValue else { throw mismatch(key, "an array", value) }
        return v
    }
    public func strings(_ key: String) throws -> [String]? {
        guard let a = try array(key) else { return nil }
        guard let v = a.stringValues else { throw mismatch(key, "an array of strings", .array(a)) }
        return v
    }
    public func floats(_ key: String) throws -> [Float]? {
        guard let a = try array(key) else { return nil }
        guard let v = a.floatValues else { throw mismatch(key, "an array of numbers", .array(a)) }
        return v
    }
    public func ints(_ key: String) throws -> [Int]? {
        guard let a = try array(key) else { return nil }
        guard let v = a.intValues else { throw mismatch(key, "an array of integers", .array(a)) }
        return v
    }

    public func requireInt(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw missing(key, "an integer") }
        return v
    }
    public func requireDouble(_ key: String) throws -> Double {
        guard let v = try double(key) else { throw missing(key, "a number") }
        return v
    }
    public func requireString(_ key: String) throws -> String {
        guard let v = try string(key) else { throw missing(key, "a string") }
        return v
    }
    public func requireStrings(_ key: String) throws -> [String] {
        guard let v = try strings(key) else { throw missing(key, "an array of strings") }
        return v
    }
}
