import BiomechCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes of a GGUF file: memory-mapped read-only from disk, or an owned copy.
final class GGUFStorage: @unchecked Sendable {
    // Immutable after init; the mapping is read-only (PROT_READ), so sharing across
    // threads is safe.
    let base: UnsafeRawPointer
    let count: Int
    private let mapped: Bool

    init(mapping path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw InputError(file: path, "cannot open the GGUF file: \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw InputError(file: path, "cannot read the file's size: \(String(cString: strerror(errno)))")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            throw InputError(file: path, "the file is empty; expected a GGUF file (magic 'GGUF')")
        }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw InputError(file: path, "cannot memory-map the file: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(pointer)
        count = size
        mapped = true
    }

    init(copying data: Data) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { buffer.copyMemory(from: source, byteCount: bytes.count) }
        }
        base = UnsafeRawPointer(buffer)
        count = data.count
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}

/// What one tensor in a GGUF file is and where its bytes are.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions as GGUF lists them: the innermost (contiguous) dimension first.
    /// A weight `[out, in]` in PyTorch is `[in, out]` here.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset of the tensor's bytes from the start of the data section.
    public let offset: Int
    /// Offset of the tensor's bytes from the start of the file.
    public let fileOffset: Int

    /// Dimensions outermost first (row-major order, as PyTorch and NumPy list them).
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Length of one row: the innermost dimension.
    public var rowLength: Int { dimensions.first ?? 1 }
    /// Number of rows: the product of all dimensions but the innermost.
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }
    public var blocksPerRow: Int { rowLength / type.blockSize }
    public var bytesPerRow: Int { blocksPerRow * type.typeSize }
    public var blockCount: Int { elementCount / type.blockSize }
    public var byteCount: Int { blockCount * type.typeSize }
}

/// A GGUF file (version 2 or 3, little-endian): its metadata, tensor infos and tensor bytes.
///
/// The file is memory-mapped read-only, so opening a large model is cheap and tensor bytes
/// are paged in only when read. Every structural problem (bad magic, unsupported version,
/// truncation, out-of-range offsets, unknown types) is reported as an ``InputError`` that
/// names the file and says what was expected.
public final class GGUFFile: Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian UInt32
    public static let defaultAlignment = 32

    /// Path of the file (or the name given to in-memory bytes).
    public let path: String
    public let version: Int
    public let metadata: GGUFMetadata
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Alignment of tensor data (`general.alignment`, default 32).
    public let alignment: Int
    /// Start of the data section, from the start of the file.
    public let dataOffset: Int
    /// Size of the file in bytes.
    public var fileSize: Int { storage.count }

    private let storage: GGUFStorage
    private let tensorIndex: [String: Int]

    /// Opens and memory-maps a GGUF file.
    public convenience init(path: String) throws {
        try self.init(storage: GGUFStorage(mapping: path), name: path)
    }

    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    /// Parses GGUF bytes held in memory (copied). `name` is used in error messages.
    public convenience init(data: Data, name: String = "<memory>") throws {
        try self.init(storage: GGUFStorage(copying: data), name: name)
    }

    private init(storage: GGUFStorage, name: String) throws {
        self.storage = storage
        self.path = name
        var reader = ByteReader(base: storage.base, count: storage.count, file: name)

        let magic = try reader.u32("the magic number 'GGUF'")
        guard magic == Self.magic else {
            let shown = withUnsafeBytes(of: magic.littleEndian) { bytes in
                bytes.map { (32..<127).contains($0) ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined()
            }
            throw InputError(file: name, "not a GGUF file: the first 4 bytes are '\(shown)', expected 'GGUF'")
        }
        let rawVersion = try reader.u32("the format version")
        guard rawVersion == 2 || rawVersion == 3 else {
            if rawVersion.byteSwapped == 2 || rawVersion.byteSwapped == 3 {
                throw InputError(file: name, "big-endian GGUF files are not supported; expected a little-endian file")
            }
            throw InputError(file: name, "unsupported GGUF version \(rawVersion); expected version 2 or 3",
                             allowed: ["2", "3"])
        }
        version = Int(rawVersion)
        let tensorCount = try reader.count("the tensor count", minimumElementSize: 8 + 4 + 8 + 4 + 8)
        let keyCount = try reader.count("the metadata key count", minimumElementSize: 8 + 4 + 1)

        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        keys.reserveCapacity(keyCount)
        for index in 0..<keyCount {
            let key = try reader.string("the key of metadata entry \(index)")
            let rawType = try reader.u32("the value type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw InputError(file: name, field: key, "unknown metadata value type \(rawType)",
                                 allowed: GGUFValueType.allCases.map { "\($0.rawValue) (\($0.name))" })
            }
            let value = try reader.value(of: type, for: key)
            if values[key] != nil {
                throw InputError(file: name, field: key, "metadata key appears twice; expected unique keys")
            }
            keys.append(key)
            values[key] = value
        }
        metadata = GGUFMetadata(keys: keys, values: values, file: name)

        var align = Self.defaultAlignment
        if let value = values["general.alignment"] {
            guard let a = value.intValue, a > 0, a & (a - 1) == 0 else {
                throw InputError(file: name, field: "general.alignment",
                                 "alignment must be a positive power of two, found \(value)")
            }
            align = a
        }
        alignment = align

        struct RawInfo { var name: String; var dims: [Int]; var type: GGMLType; var offset: Int }
        var raw: [RawInfo] = []
        raw.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        for t in 0..<tensorCount {
            let tensorName = try reader.string("the name of tensor \(t)")
            let dimensionCount = Int(try reader.u32("the dimension count of tensor '\(tensorName)'"))
            guard (1...4).contains(dimensionCount) else {
                throw InputError(file: name, field: tensorName,
                                 "tensor has \(dimensionCount) dimensions; expected 1 to 4")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<dimensionCount {
                let raw = try reader.u64("dimension \(d) of tensor '\(tensorName)'")
                guard raw > 0, raw < (1 << 40), let size = Int(exactly: raw) else {
                    throw InputError(file: name, field: tensorName,
                                     "dimension \(d) is \(raw); expected a positive size")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow, product < (1 << 48) else {
                    throw InputError(file: name, field: tensorName, "tensor has too many elements")
                }
                elements = product
                dims.append(size)
            }
            let rawType = try reader.u32("the type of tensor '\(tensorName)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw InputError(file: name, field: tensorName, "unsupported tensor type \(rawType)",
                                 allowed: GGMLType.allCases.map { "\($0.rawValue) (\($0.name))" })
            }
            guard dims[0] % type.blockSize == 0 else {
                throw InputError(file: name, field: tensorName,
                                 "row length \(dims[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let rawOffset = try reader.u64("the data offset of tensor '\(tensorName)'")
            // Bounded by the file size, so `start + offset` below cannot overflow.
            guard rawOffset <= UInt64(storage.count) else {
                throw InputError(file: name, field: tensorName,
                                 "data offset \(rawOffset) lies beyond the file's \(storage.count) bytes; the file is truncated")
            }
            guard let offset = Int(exactly: rawOffset), offset % align == 0 else {
                throw InputError(file: name, field: tensorName,
                                 "data offset \(rawOffset) is not a multiple of the alignment \(align)")
            }
            guard index[tensorName] == nil else {
                throw InputError(file: name, field: tensorName, "tensor name appears twice; expected unique names")
            }
            index[tensorName] = raw.count
            raw.append(RawInfo(name: tensorName, dims: dims, type: type, offset: offset))
        }
        let start = (reader.offset + align - 1) / align * align
        dataOffset = start
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(raw.count)
        for r in raw {
            let info = GGUFTensorInfo(name: r.name, dimensions: r.dims, type: r.type, offset: r.offset,
                                      fileOffset: start + r.offset)
            let end = info.fileOffset + info.byteCount
            guard end <= storage.count else {
                throw InputError(
                    file: name, field: r.name,
                    "tensor data (\(info.type.name) \(info.dimensions), \(info.byteCount) bytes) ends at byte \(end) " +
                    "but the file has only \(storage.count) bytes; the file is truncated")
            }
            infos.append(info)
        }
        tensors = infos
        tensorIndex = index
    }

    /// `general.architecture`, e.g. `gemma3`.
    public var architecture: String? { try? metadata.string("general.architecture") }

    public func hasTensor(_ name: String) -> Bool { tensorIndex[name] != nil }

    /// The info of a tensor; an ``InputError`` naming the file and tensor if it is absent.
    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let i = tensorIndex[name] else {
            throw InputError(file: path, field: name, "the file has no tensor of this name (\(tensors.count) tensors)")
        }
        return tensors[i]
    }

    /// Calls `body` with the tensor's raw (still quantized) bytes. The buffer is valid only
    /// inside the closure.
    public func withRawBytes<R>(of tensor: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base + tensor.fileOffset, count: tensor.byteCount))
    }

    /// A copy of the tensor's raw bytes.
    public func rawBytes(of tensor: GGUFTensorInfo) -> [UInt8] {
        withRawBytes(of: tensor) { Array($0) }
    }

    /// The whole tensor as Float32, in GGUF element order (innermost dimension fastest).
    public func dequantize(_ name: String) throws -> [Float] {
        let info = try tensor(name)
        return try dequantizeRows(info, 0..<info.rowCount)
    }

    /// Rows `rows` of the tensor as Float32 (`rows.count * rowLength` values).
    public func dequantizeRows(_ name: String, _ rows: Range<Int>) throws -> [Float] {
        try dequantizeRows(tensor(name), rows)
    }

    public func dequantizeRows(_ info: GGUFTensorInfo, _ rows: Range<Int>) throws -> [Float] {
        try checkDequantizable(info)
        guard rows.lowerBound >= 0, rows.upperBound <= info.rowCount else {
            throw InputError(file: path, field: info.name,
                             "row range \(rows) is outside the tensor's \(info.rowCount) rows")
        }
        return [Float](unsafeUninitializedCapacity: rows.count * info.rowLength) { buffer, initialized in
            // Errors are impossible past the checks above; write zeros rather than trap if one arises.
            do {
                try dequantizeRows(info, rows, into: buffer)
            } catch {
                buffer.initialize(repeating: 0)
            }
            initialized = buffer.count
        }
    }

    /// Dequantizes rows into caller-provided memory of exactly `rows.count * rowLength` floats,
    /// for tile-by-tile use without allocation.
    public func dequantizeRows(_ info: GGUFTensorInfo, _ rows: Range<Int>, into output: UnsafeMutableBufferPointer<Float>) throws {
        try checkDequantizable(info)
        guard rows.lowerBound >= 0, rows.upperBound <= info.rowCount else {
            throw InputError(file: path, field: info.name,
                             "row range \(rows) is outside the tensor's \(info.rowCount) rows")
        }
        let blocksPerRow = info.blocksPerRow
        try dequantizeBlocks(info, (rows.lowerBound * blocksPerRow)..<(rows.upperBound * blocksPerRow), into: output)
    }

    /// Dequantizes blocks `blocks` (counted from the start of the tensor, `type.blockSize`
    /// values each) into exactly `blocks.count * blockSize` floats.
    public func dequantizeBlocks(_ info: GGUFTensorInfo, _ blocks: Range<Int>, into output: UnsafeMutableBufferPointer<Float>) throws {
        try checkDequantizable(info)
        guard blocks.lowerBound >= 0, blocks.upperBound <= info.blockCount else {
            throw InputError(file: path, field: info.name,
                             "block range \(blocks) is outside the tensor's \(info.blockCount) blocks")
        }
        let start = storage.base + info.fileOffset + blocks.lowerBound * info.type.typeSize
        let bytes = UnsafeRawBufferPointer(start: start, count: blocks.count * info.type.typeSize)
        try GGMLDequantizer.dequantize(info.type, blocks: bytes, into: output)
    }

    private func checkDequantizable(_ info: GGUFTensorInfo) throws {
        guard info.type.canDequantize else {
            throw InputError(file: path, field: info.name, "cannot dequantize tensor type \(info.type.name)",
                             allowed: GGMLType.dequantizable.map(\.name))
        }
    }
}

/// Bounds-checked little-endian reads over the file's bytes.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    let file: String
    var offset = 0

    private func truncated(_ needed: Int, _ what: String) -> InputError {
        InputError(file: file, "the file ends at byte \(count) while reading \(what) at byte \(offset) " +
                   "(\(needed) more bytes needed); the file is truncated or not a GGUF file")
    }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, count - offset >= n else { throw truncated(n, what) }
    }

    mutating func load<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        try need(MemoryLayout<T>.size, what)
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func u32(_ what: String) throws -> UInt32 { try load(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try load(UInt64.self, what) }

    /// A 64-bit count, checked against the bytes left (each element needs at least
    /// `minimumElementSize` bytes), so corrupt counts cannot cause huge allocations.
    mutating func count(_ what: String, minimumElementSize: Int) throws -> Int {
        let raw = try u64(what)
        let remaining = count - offset
        guard raw <= UInt64(remaining / max(minimumElementSize, 1)) else {
            throw InputError(file: file, "\(what) is \(raw), more than the \(remaining) bytes left in the file " +
                             "can hold; the file is truncated or corrupt")
        }
        return Int(raw)
    }

    mutating func string(_ what: String) throws -> String {
        let length = try count("the length of \(what)", minimumElementSize: 1)
        let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: length), as: UTF8.self)
        offset += length
        return s
    }

    mutating func array<T: FixedWidthInteger>(_ type: T.Type, _ n: Int, _ what: String) throws -> [T] {
        try need(n * MemoryLayout<T>.size, what)
        let start = base + offset
        offset += n * MemoryLayout<T>.size
        return (0..<n).map { T(littleEndian: start.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
    }

    mutating func value(of type: GGUFValueType, for key: String) throws -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, what))
        case .int8: return .int8(try load(Int8.self, what))
        case .uint16: return .uint16(try load(UInt16.self, what))
        case .int16: return .int16(try load(Int16.self, what))
        case .uint32: return .uint32(try load(UInt32.self, what))
        case .int32: return .int32(try load(Int32.self, what))
        case .uint64: return .uint64(try load(UInt64.self, what))
        case .int64: return .int64(try load(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, what)))
        case .bool:
            let b = try load(UInt8.self, what)
            guard b <= 1 else { throw InputError(file: file, field: key, "bool value is \(b); expected 0 or 1") }
            return .bool(b == 1)
        case .string: return .string(try string(what))
        case .array: return .array(try arrayValue(for: key))
        }
    }

    mutating func arrayValue(for key: String) throws -> GGUFArray {
        let rawType = try u32("the element type of array '\(key)'")
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw InputError(file: file, field: key, "unknown array element type \(rawType)",
                             allowed: GGUFValueType.allCases.map { "\($0.rawValue) (\($0.name))" })
        }
        let minimum: Int
        switch type {
        case .uint8, .int8, .bool: minimum = 1
        case .uint16, .int16: minimum = 2
        case .uint32, .int32, .float32: minimum = 4
        case .uint64, .int64, .float64, .string: minimum = 8
        case .array: minimum = 12
        }
        let n = try count("the length of array '\(key)'", minimumElementSize: minimum)
        let what = "the elements of array '\(key)'"
        switch type {
        case .uint8: return .uint8(try array(UInt8.self, n, what))
        case .int8: return .int8(try array(Int8.self, n, what))
        case .uint16: return .uint16(try array(UInt16.self, n, what))
        case .int16: return .int16(try array(Int16.self, n, what))
        case .uint32: return .uint32(try array(UInt32.self, n, what))
        case .int32: return .int32(try array(Int32.self, n, what))
        case .uint64: return .uint64(try array(UInt64.self, n, what))
        case .int64: return .int64(try array(Int64.self, n, what))
        case .float32: return .float32(try array(UInt32.self, n, what).map(Float.init(bitPattern:)))
        case .float64: return .float64(try array(UInt64.self, n, what).map(Double.init(bitPattern:)))
        case .bool: return .bool(try array(UInt8.self, n, what).map { $0 != 0 })
        case .string:
            var out: [String] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try string("element \(i) of array '\(key)'")) }
            return .string(out)
        case .array:
            var out: [GGUFArray] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try arrayValue(for: key)) }
            return .array(out)
        }
    }
}
