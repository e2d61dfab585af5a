import BiomechCore
import Foundation

/// Writes small GGUF files (version 3, little-endian): metadata and tensors whose bytes
/// are given already encoded. Used to build test files and to export small tensors.
public struct GGUFWriter: Sendable {
    public var alignment: Int
    private var entries: [(String, GGUFValue)] = []
    private var tensorEntries: [(name: String, type: GGMLType, dimensions: [Int], bytes: [UInt8])] = []

    public init(alignment: Int = GGUFFile.defaultAlignment) {
        self.alignment = alignment
    }

    /// Adds a metadata entry (in order; keys must be unique).
    public mutating func add(_ key: String, _ value: GGUFValue) {
        entries.append((key, value))
    }

    /// Adds a tensor from encoded bytes. `dimensions` are innermost first, as in GGUF.
    public mutating func addTensor(_ name: String, type: GGMLType, dimensions: [Int], bytes: [UInt8]) throws {
        let elements = dimensions.reduce(1, *)
        guard !dimensions.isEmpty, dimensions[0] % type.blockSize == 0,
              bytes.count == elements / type.blockSize * type.typeSize else {
            throw InputError(field: name, "tensor of type \(type.name) and dimensions \(dimensions) " +
                             "needs \(elements / max(type.blockSize, 1) * type.typeSize) bytes, got \(bytes.count)")
        }
        tensorEntries.append((name, type, dimensions, bytes))
    }

    /// Adds an F32 tensor.
    public mutating func addTensor(_ name: String, dimensions: [Int], values: [Float]) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try addTensor(name, type: .f32, dimensions: dimensions, bytes: bytes)
    }

    /// The encoded file.
    public func serialized() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        func array(_ a: GGUFArray) {
            u32(a.elementType.rawValue)
            u64(UInt64(a.count))
            switch a {
            case .uint8(let x): out.append(contentsOf: x)
            case .int8(let x): for v in x { out.append(UInt8(bitPattern: v)) }
            case .uint16(let x): for v in x { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
            case .int16(let x): for v in x { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
            case .uint32(let x): for v in x { u32(v) }
            case .int32(let x): for v in x { u32(UInt32(bitPattern: v)) }
            case .uint64(let x): for v in x { u64(v) }
            case .int64(let x): for v in x { u64(UInt64(bitPattern: v)) }
            case .float32(let x): for v in x { u32(v.bitPattern) }
            case .float64(let x): for v in x { u64(v.bitPattern) }
            case .bool(let x): for v in x { out.append(v ? 1 : 0) }
            case .string(let x): for v in x { string(v) }
            case .array(let x): for v in x { array(v) }
            }
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): out.append(x)
            case .int8(let x): out.append(UInt8(bitPattern: x))
            case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .uint32(let x): u32(x)
            case .int32(let x): u32(UInt32(bitPattern: x))
            case .uint64(let x): u64(x)
            case .int64(let x): u64(UInt64(bitPattern: x))
            case .float32(let x): u32(x.bitPattern)
            case .float64(let x): u64(x.bitPattern)
            case .bool(let x): out.append(x ? 1 : 0)
            case .string(let x): string(x)
            case .array(let x): array(x)
            }
        }

        var allEntries = entries
        if alignment != GGUFFile.defaultAlignment, !entries.contains(where: { $0.0 == "general.alignment" }) {
            allEntries.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        u32(GGUFFile.magic)
        u32(3)
        u64(UInt64(tensorEntries.count))
        u64(UInt64(allEntries.count))
        for (key, v) in allEntries {
            string(key)
            u32(v.type.rawValue)
            value(v)
        }
        var offset = 0
        for t in tensorEntries {
            string(t.name)
            u32(UInt32(t.dimensions.count))
            for d in t.dimensions { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        pad()
        for t in tensorEntries {
            out.append(contentsOf: t.bytes)
            pad()
        }
        return out
    }

    /// Writes the file atomically.
    public func write(to url: URL) throws {
        try AtomicFile.write(serialized(), to: url)
    }
}
