import BiomechCore
import Foundation
import Testing
@testable import GGUF

/// A small GGUF file with metadata of every value type and tensors of several types.
func sampleWriter(alignment: Int = 32) throws -> GGUFWriter {
    var w = GGUFWriter(alignment: alignment)
    w.add("general.architecture", .string("tiny"))
    w.add("general.name", .string("Tïny ✓"))
    w.add("test.u8", .uint8(200))
    w.add("test.i8", .int8(-100))
    w.add("test.u16", .uint16(60000))
    w.add("test.i16", .int16(-30000))
    w.add("test.u32", .uint32(4_000_000_000))
    w.add("test.i32", .int32(-2_000_000_000))
    w.add("test.u64", .uint64(1 << 40))
    w.add("test.i64", .int64(-(1 << 40)))
    w.add("test.f32", .float32(1e-6))
    w.add("test.f64", .float64(3.141592653589793))
    w.add("test.bool", .bool(true))
    w.add("test.strings", .array(.string(["a", "", "▁b", "<0x0A>"])))
    w.add("test.floats", .array(.float32([0.5, -1.25])))
    w.add("test.i32s", .array(.int32([1, -2, 3])))
    w.add("test.nested", .array(.array([.uint8([1, 2]), .uint8([3])])))
    w.add("test.bools", .array(.bool([true, false])))
    try w.addTensor("norm.weight", dimensions: [4], values: [1, 2, 3, 4])
    // Two Q8_0 blocks with d = 1.0 (f16 0x3C00) and codes equal to their byte offsets.
    var q8: [UInt8] = (0..<68).map { UInt8($0) }
    q8[0] = 0x00; q8[1] = 0x3C; q8[34] = 0x00; q8[35] = 0x3C
    try w.addTensor("q8.weight", type: .q8_0, dimensions: [32, 2], bytes: q8)
    try w.addTensor("bf16.weight", type: .bf16, dimensions: [2, 3],
                    bytes: [0x80, 0x3F, 0x00, 0x40, 0x40, 0x40, 0x80, 0x40, 0xA0, 0x40, 0xC0, 0x40])
    return w
}

@Suite("GGUF reader")
struct GGUFFileTests {
    @Test("a written file reads back with every metadata type, tensor and alignment")
    func roundTrip() throws {
        for alignment in [32, 64] {
            let data = try sampleWriter(alignment: alignment).serialized()
            let file = try GGUFFile(data: data, name: "sample.gguf")
            #expect(file.version == 3)
            #expect(file.alignment == alignment)
            #expect(file.dataOffset % alignment == 0)
            let m = file.metadata
            #expect(file.architecture == "tiny")
            #expect(try m.string("general.name") == "Tïny ✓")
            #expect(m["test.u8"] == .uint8(200))
            #expect(try m.int("test.i8") == -100)
            #expect(try m.int("test.u16") == 60000)
            #expect(try m.int("test.i16") == -30000)
            #expect(try m.int("test.u32") == 4_000_000_000)
            #expect(try m.int("test.i32") == -2_000_000_000)
            #expect(try m.int("test.u64") == 1 << 40)
            #expect(try m.int("test.i64") == -(1 << 40))
            #expect(try m.float("test.f32") == 1e-6)
            #expect(try m.double("test.f64") == 3.141592653589793)
            #expect(try m.bool("test.bool") == true)
            #expect(try m.strings("test.strings") == ["a", "", "▁b", "<0x0A>"])
            #expect(try m.floats("test.floats") == [0.5, -1.25])
            #expect(try m.ints("test.i32s") == [1, -2, 3])
            #expect(m["test.nested"] == .array(.array([.uint8([1, 2]), .uint8([3])])))
            #expect(m["test.bools"] == .array(.bool([true, false])))
            #expect(try m.int("missing") == nil)
            #expect(m.keys.first == "general.architecture")

            #expect(file.tensors.map(\.name) == ["norm.weight", "q8.weight", "bf16.weight"])
            #expect(try file.dequantize("norm.weight") == [1, 2, 3, 4])
            let q8 = try file.tensor("q8.weight")
            #expect(q8.rowLength == 32 && q8.rowCount == 2 && q8.shape == [2, 32])
            #expect(q8.offset % alignment == 0)
            let rows = try file.dequantize("q8.weight")
            #expect(rows[0] == 2 && rows[1] == 3 && rows[33] == 37)  // d = 1.0 (0x3C00)
            #expect(try file.dequantizeRows("q8.weight", 1..<2) == Array(rows[32..<64]))
            let bf = try file.tensor("bf16.weight")
            #expect(bf.shape == [3, 2])
            #expect(try file.dequantize("bf16.weight") == [1, 2, 3, 4, 5, 6])
            #expect(try file.dequantizeRows("bf16.weight", 1..<3) == [3, 4, 5, 6])
        }
    }

    @Test("the same file read through a memory map")
    func mappedFile() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("sample.gguf")
        try sampleWriter().write(to: url)
        let file = try GGUFFile(url: url)
        #expect(file.path == url.path)
        #expect(file.fileSize == (try Data(contentsOf: url)).count)
        #expect(try file.dequantize("norm.weight") == [1, 2, 3, 4])
    }

    @Test("metadata of the wrong type and missing names are input errors naming the key")
    func typedAccessErrors() throws {
        let file = try GGUFFile(data: try sampleWriter().serialized(), name: "sample.gguf")
        let wrong = #expect(throws: InputError.self) { try file.metadata.string("test.u8") }
        #expect(wrong?.field == "test.u8")
        #expect(wrong?.file == "sample.gguf")
        let missing = #expect(throws: InputError.self) { try file.metadata.requireInt("gemma3.block_count") }
        #expect(missing?.description.contains("missing") == true)
        let noTensor = #expect(throws: InputError.self) { try file.tensor("nope") }
        #expect(noTensor?.field == "nope")
        #expect(throws: InputError.self) { try file.dequantizeRows("q8.weight", 1..<3) }
    }

    @Test("every truncation of a valid file is an input error naming the file")
    func truncated() throws {
        let data = try sampleWriter().serialized()
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The last tensor's bytes are followed by alignment padding, which is not needed.
        let needed = data.count - 20
        for length in stride(from: 0, to: needed, by: 1) {
            let name = "cut-\(length).gguf"
            let error = #expect(throws: InputError.self, "length \(length)") {
                if length % 16 == 0 {
                    // Some cuts go through a real file and the memory map.
                    let url = dir.appendingPathComponent(name)
                    try data.prefix(length).write(to: url)
                    _ = try GGUFFile(path: url.path)
                } else {
                    _ = try GGUFFile(data: data.prefix(length), name: name)
                }
            }
            guard let error else { continue }
            #expect(error.file?.hasSuffix(name) == true, "\(error)")
            let text = error.description
            #expect(text.contains("truncated") || text.contains("empty") || text.contains("expected 'GGUF'"),
                    "length \(length): \(text)")
        }
    }

    @Test("corrupt headers give errors that say what was expected")
    func corrupt() throws {
        let good = [UInt8](try sampleWriter().serialized())
        func error(_ bytes: [UInt8]) -> String {
            do {
                _ = try GGUFFile(data: Data(bytes), name: "bad.gguf")
                return "no error"
            } catch let e as InputError {
                return e.description
            } catch {
                return "other error \(error)"
            }
        }
        var magic = good; magic[0] = UInt8(ascii: "X")
        #expect(error(magic).contains("expected 'GGUF'"))
        #expect(error(magic).hasPrefix("bad.gguf: "))
        var v1 = good; v1[4] = 1
        #expect(error(v1).contains("unsupported GGUF version 1"))
        var big = good; big[4] = 0; big[7] = 3
        #expect(error(big).contains("big-endian"))
        var hugeCount = good; hugeCount[8 + 7] = 0x7F  // tensor count
        #expect(error(hugeCount).contains("tensor count"))
        // The first key is "general.architecture" (8 + 20 bytes); its value type follows.
        var badType = good; badType[24 + 8 + 20] = 99
        #expect(error(badType).contains("unknown metadata value type 99"))
        #expect(error(badType).contains("'general.architecture'"))
        #expect(error(Array(good.prefix(3))).contains("truncated"))
        #expect(error([]).contains("truncated"))
    }

    @Test("tensor infos are validated: type, alignment of offsets, bounds")
    func tensorValidation() throws {
        var w = GGUFWriter()
        try w.addTensor("t", dimensions: [8], values: Array(repeating: 1, count: 8))
        let good = [UInt8](w.serialized())
        // Layout after the 24-byte header (no metadata): name (8 + 1), n_dims (4), dim (8), type (4), offset (8).
        let typeAt = 24 + 9 + 4 + 8
        let offsetAt = typeAt + 4
        func message(_ bytes: [UInt8]) -> String {
            do { _ = try GGUFFile(data: Data(bytes), name: "t.gguf"); return "no error" } catch { return "\(error)" }
        }
        var unknownType = good; unknownType[typeAt] = 77
        #expect(message(unknownType).contains("unsupported tensor type 77"))
        var misaligned = good; misaligned[offsetAt] = 4
        #expect(message(misaligned).contains("not a multiple of the alignment 32"))
        var outside = good; outside[offsetAt + 1] = 1  // offset 256: past the end
        #expect(message(outside).contains("truncated"))
        var zeroDim = good; zeroDim[24 + 9 + 4] = 0
        #expect(message(zeroDim).contains("positive size"))
        #expect(message(good) == "no error")
        #expect(throws: InputError.self) { try GGUFFile(path: "/nonexistent/dir/model.gguf") }
    }
}
