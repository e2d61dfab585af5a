import BiomechCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Element types of the safetensors format. The engine reads F32, F16, BF16 (and F64)
/// into Float32 tensors and writes F32, F16 or BF16; the other types are recognised so
/// that files containing them validate, but cannot be loaded as tensors.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }
}

/// One tensor's header entry.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let byteRange: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file opened by memory-mapping it.
///
/// Format: an 8-byte little-endian header length `n`, `n` bytes of JSON mapping each
/// tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an optional
/// `"__metadata__"` object of strings), then the data section. Opening validates the
/// whole header — lengths, JSON, dtypes, that every byte range matches its shape and
/// dtype and lies within the file, and that ranges do not overlap — and throws
/// `InputError(file:field:…)` naming the tensor at fault. Tensor bytes are read (and
/// converted to Float32) only when asked for.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    public let entries: [String: SafetensorsEntry]
    private let mapping: UnsafeMutableRawPointer?
    private let mappedLength: Int
    private let dataStart: Int

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw InputError(file: path, "cannot open safetensors file (errno \(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InputError(file: path, "cannot stat file (errno \(errno))") }
        let size = Int(st.st_size)
        guard size >= 8 else {
            throw InputError(file: path, "file is truncated: \(size) bytes, but a safetensors file starts with an 8-byte header length")
        }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw InputError(file: path, "cannot memory-map file (errno \(errno))")
        }
        mapping = m
        mappedLength = size
        do {
            let rawLength = UInt64(littleEndian: m.loadUnaligned(as: UInt64.self))
            guard rawLength <= 100_000_000 else {
                throw InputError(file: path, "header length \(rawLength) is implausible (more than 100 MB); not a safetensors file?")
            }
            let headerLength = Int(rawLength)
            guard 8 + headerLength <= size else {
                throw InputError(file: path, "file is truncated: header needs \(headerLength) bytes after the length, only \(size - 8) present")
            }
            dataStart = 8 + headerLength
            let headerData = Data(bytes: m + 8, count: headerLength)
            let header: SafetensorsHeader
            do { header = try JSONDecoder().decode(SafetensorsHeader.self, from: headerData) } catch let e as InputError {
                throw InputError(file: path, field: e.field, e.message)
            } catch {
                throw InputError(file: path, "header is not valid JSON of the safetensors form: \(error)")
            }
            metadata = header.metadata
            let dataSize = size - dataStart
            var parsed: [String: SafetensorsEntry] = [:]
            for (name, raw) in header.tensors {
                guard let dtype = SafetensorsDType(rawValue: raw.dtype) else {
                    throw InputError(file: path, field: name, "unknown dtype '\(raw.dtype)'",
                                     allowed: SafetensorsDType.allCases.map(\.rawValue))
                }
                guard raw.shape.allSatisfy({ $0 >= 0 }) else {
                    throw InputError(file: path, field: name, "shape \(raw.shape) has a negative dimension")
                }
                guard raw.data_offsets.count == 2, raw.data_offsets[0] >= 0, raw.data_offsets[0] <= raw.data_offsets[1] else {
                    throw InputError(file: path, field: name, "data_offsets \(raw.data_offsets) must be [begin, end] with 0 ≤ begin ≤ end")
                }
                let begin = raw.data_offsets[0], end = raw.data_offsets[1]
                guard let expected = checkedProduct(raw.shape + [dtype.byteSize]) else {
                    throw InputError(file: path, field: name, "shape \(raw.shape) is too large for any file")
                }
                guard end - begin == expected else {
                    throw InputError(file: path, field: name,
                                     "data_offsets cover \(end - begin) bytes, but shape \(raw.shape) of \(dtype.rawValue) needs \(expected)")
                }
                guard end <= dataSize else {
                    throw InputError(file: path, field: name,
                                     "file is truncated: tensor data ends at byte \(end) of the data section, which has only \(dataSize) bytes")
                }
                parsed[name] = SafetensorsEntry(name: name, dtype: dtype, shape: raw.shape, byteRange: begin..<end)
            }
            let sorted = parsed.values.sorted { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
            for (a, b) in zip(sorted, sorted.dropFirst()) where b.byteRange.lowerBound < a.byteRange.upperBound && !b.byteRange.isEmpty {
                throw InputError(file: path, field: b.name, "data overlaps tensor '\(a.name)'")
            }
            entries = parsed
        } catch {
            munmap(m, size)
            throw error
        }
    }

    deinit { if let mapping { munmap(mapping, mappedLength) } }

    /// The entry for `name`, or an error naming the file and tensor.
    public func entry(_ name: String) throws -> SafetensorsEntry {
        guard let e = entries[name] else { throw InputError(file: path, field: name, "no tensor of this name in the file") }
        return e
    }

    /// Reads a tensor, converting F16/BF16/F64 to Float32.
    public func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        let t = Tensor(shape: e.shape)
        try read(e, into: t.data)
        return t
    }

    /// Reads a tensor into an existing buffer of the same element count.
    public func read(_ name: String, into target: Tensor) throws {
        let e = try entry(name)
        guard e.elementCount == target.count else {
            throw InputError(file: path, field: name, "tensor has shape \(e.shape), expected \(target.shape)")
        }
        try read(e, into: target.data)
    }

    private func read(_ e: SafetensorsEntry, into out: UnsafeMutablePointer<Float>) throws {
        let src = UnsafeRawPointer(mapping!) + dataStart + e.byteRange.lowerBound
        let n = e.elementCount
        switch e.dtype {
        case .f32:
            UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: n * 4)
        case .f16:
            Threads.parallelFor(n, minPerThread: elementwiseGrain) { r in
                for i in r { out[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            }
        case .bf16:
            Threads.parallelFor(n, minPerThread: elementwiseGrain) { r in
                for i in r { out[i] = HalfPrecision.bfloat16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            }
        case .f64:
            for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        default:
            throw InputError(file: path, field: e.name, "dtype \(e.dtype.rawValue) cannot be read as floating point",
                             allowed: ["F32", "F16", "BF16", "F64"])
        }
    }

    /// Reads every tensor.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in names { out[name] = try tensor(name) }
        return out
    }
}

/// The decoded header: tensor entries and optional metadata.
private struct SafetensorsHeader: Decodable {
    struct RawEntry: Decodable { let dtype: String; let shape: [Int]; let data_offsets: [Int] }
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    var tensors: [String: RawEntry] = [:]
    var metadata: [String: String] = [:]

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for key in c.allKeys {
            if key.stringValue == "__metadata__" {
                do { metadata = try c.decode([String: String].self, forKey: key) } catch {
                    throw InputError(field: "__metadata__", "metadata must be an object of strings")
                }
            } else {
                do { tensors[key.stringValue] = try c.decode(RawEntry.self, forKey: key) } catch {
                    throw InputError(field: key.stringValue,
                                     "entry must be {\"dtype\": string, \"shape\": [int], \"data_offsets\": [int, int]}")
                }
            }
        }
    }
}

/// Writing safetensors files, and loading parameters from them.
public enum Safetensors {
    /// Writes `tensors` (sorted by name) to `url` atomically, each stored as `dtypes[name]`
    /// or `dtype` (F32, F16 or BF16; half types are rounded to nearest even).
    public static func write(_ tensors: [String: Tensor], to url: URL, dtype: SafetensorsDType = .f32,
                             dtypes: [String: SafetensorsDType] = [:], metadata: [String: String] = [:]) throws {
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        var offset = 0
        var plan: [(Tensor, SafetensorsDType)] = []
        for name in names {
            let t = tensors[name]!, dt = dtypes[name] ?? dtype
            guard [.f32, .f16, .bf16].contains(dt) else {
                throw InputError(file: url.path, field: name, "cannot write dtype \(dt.rawValue)", allowed: ["F32", "F16", "BF16"])
            }
            let bytes = t.count * dt.byteSize
            header[name] = ["dtype": dt.rawValue, "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
            plan.append((t, dt))
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        while json.count % 8 != 0 { json.append(0x20) }
        try AtomicFile.produce(url) { temporary in
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw InputError(file: url.path, "cannot create file")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            var length = UInt64(json.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: json)
            let chunk = 1 << 20
            for (t, dt) in plan {
                var start = 0
                while start < t.count {
                    let n = Swift.min(chunk, t.count - start)
                    try handle.write(contentsOf: encode(t.data + start, count: n, as: dt))
                    start += n
                }
            }
        }
    }

    private static func encode(_ p: UnsafePointer<Float>, count n: Int, as dt: SafetensorsDType) -> Data {
        switch dt {
        case .f16:
            var d = Data(count: n * 2)
            d.withUnsafeMutableBytes { raw in
                for i in 0..<n { raw.storeBytes(of: Float16(p[i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return d
        case .bf16:
            var d = Data(count: n * 2)
            d.withUnsafeMutableBytes { raw in
                for i in 0..<n { raw.storeBytes(of: HalfPrecision.floatToBFloat16(p[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return d
        default:
            return Data(bytes: p, count: n * 4)
        }
    }

    /// Reads every tensor of a file.
    public static func read(_ url: URL) throws -> [String: Tensor] {
        try SafetensorsFile(path: url.path).allTensors()
    }
}

extension ParameterStore {
    /// Writes all parameter values to a safetensors file.
    public func save(to url: URL, dtype: SafetensorsDType = .f32, metadata: [String: String] = [:]) throws {
        try Safetensors.write(valuesByName, to: url, dtype: dtype, metadata: metadata)
    }

    /// Copies values from `file` into the parameters of the same names. Shapes must match.
    /// Missing tensors are an error unless `allowMissing`; tensors with no parameter are
    /// ignored. Returns the names that were loaded.
    @discardableResult
    public func load(from file: SafetensorsFile, allowMissing: Bool = false) throws -> [String] {
        var loaded: [String] = []
        for p in all {
            guard let e = file.entries[p.name] else {
                if allowMissing { continue }
                throw InputError(file: file.path, field: p.name, "parameter missing from the file")
            }
            guard e.shape == p.value.shape else {
                throw InputError(file: file.path, field: p.name, "tensor has shape \(e.shape), the model expects \(p.value.shape)")
            }
            try file.read(p.name, into: p.value)
            loaded.append(p.name)
        }
        return loaded
    }
}

/// Conversions between Float32 and 16-bit formats.
public enum HalfPrecision {
    /// bfloat16 bits to Float (exact).
    @inline(__always)
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Float to bfloat16 bits, rounding to nearest even (NaN stays NaN).
    @inline(__always)
    public static func floatToBFloat16(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7FC0 }
        let bits = x.bitPattern
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}
