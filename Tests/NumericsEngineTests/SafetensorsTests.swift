import BiomechCore
import Foundation
import Testing
@testable import NumericsEngine

@Suite("safetensors")
struct SafetensorsTests {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID().uuidString)-\(name)")
    }

    @Test func roundTripF32F16BF16() throws {
        var rng = SeededRandom(seed: 31)
        let a = Tensor.randomNormal(shape: [3, 4], std: 1, using: &rng)
        let b = Tensor.randomNormal(shape: [5], std: 10, using: &rng)
        let c = Tensor.randomNormal(shape: [2, 1, 3], std: 0.01, using: &rng)
        let empty = Tensor(shape: [0, 4])
        let url = temporaryURL("rt.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(["a": a, "layers.0.b": b, "c": c, "empty": empty], to: url,
                              dtypes: ["layers.0.b": .f16, "c": .bf16], metadata: ["step": "12"])
        let file = try SafetensorsFile(path: url.path)
        #expect(file.names == ["a", "c", "empty", "layers.0.b"])
        #expect(file.metadata == ["step": "12"])
        #expect(try file.entry("layers.0.b").dtype == .f16)
        #expect(try file.tensor("a").scalars == a.scalars)
        let b2 = try file.tensor("layers.0.b"), c2 = try file.tensor("c")
        for i in 0..<b.count { #expect(abs(b2[i] - b[i]) <= abs(b[i]) * 0x1p-11) }
        for i in 0..<c.count { #expect(abs(c2[i] - c[i]) <= abs(c[i]) * 0x1p-8) }
        #expect(c2.shape == [2, 1, 3])
        #expect(try file.tensor("empty").shape == [0, 4])
        // The data section starts 8-byte aligned.
        let bytes = try Data(contentsOf: url)
        let n = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(n % 8 == 0)
    }

    @Test func bfloat16Rounding() {
        #expect(HalfPrecision.floatToBFloat16(1) == 0x3F80)
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
        #expect(HalfPrecision.floatToBFloat16(1 + 0x1p-8) == 0x3F80)
        #expect(HalfPrecision.floatToBFloat16(1 + 0x1p-8 + 0x1p-12) == 0x3F81)
        #expect(HalfPrecision.bfloat16ToFloat(0xC040) == -3)
        #expect(HalfPrecision.bfloat16ToFloat(HalfPrecision.floatToBFloat16(.nan)).isNaN)
    }

    @Test func readsFileWrittenByPythonSafetensors() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/python_fixture", withExtension: "safetensors"))
        let file = try SafetensorsFile(path: url.path)
        #expect(file.metadata == ["format": "pt", "producer": "make_safetensors_fixture.py"])
        #expect(file.names == ["brain.bf16", "half.f16", "ids.i64", "weight.f32"])
        let w = try file.tensor("weight.f32")
        #expect(w.shape == [2, 3])
        #expect(w.scalars == [-1, -0.5, 0, 0.5, 1, 1.5])
        #expect(try file.tensor("half.f16").scalars == [1, -2.5, Float(Float16(0.1)), 65504])
        let bf = try file.tensor("brain.bf16")
        #expect(bf.shape == [2, 2] && bf.scalars == [1, -3, 0.15625, 256])
        #expect(throws: InputError.self) { try file.tensor("ids.i64") }
        #expect(throws: InputError.self) { try file.tensor("missing") }
        // Loading into named parameters checks shapes.
        let store = ParameterStore([Parameter(name: "weight.f32", value: Tensor(shape: [2, 3]))])
        #expect(try store.load(from: file) == ["weight.f32"])
        #expect(store["weight.f32"]!.value.scalars == w.scalars)
        let wrong = ParameterStore([Parameter(name: "weight.f32", value: Tensor(shape: [3, 2]))])
        #expect(throws: InputError.self) { try wrong.load(from: file) }
    }

    /// Writes `header` JSON followed by `dataBytes` zero bytes, returning the path.
    func rawFile(_ header: String, dataBytes: Int, declaredLength: UInt64? = nil) throws -> URL {
        var d = Data()
        var len = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
        d.append(Data(bytes: &len, count: 8))
        d.append(Data(header.utf8))
        d.append(Data(count: dataBytes))
        let url = temporaryURL("bad.safetensors")
        try d.write(to: url)
        return url
    }

    func error(_ url: URL) -> InputError? {
        defer { try? FileManager.default.removeItem(at: url) }
        do { _ = try SafetensorsFile(path: url.path); return nil } catch let e as InputError { return e } catch { return nil }
    }

    @Test func clearErrorsForBrokenFiles() throws {
        let good = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
        #expect(error(try rawFile(good, dataBytes: 16)) == nil)

        let truncated = error(try rawFile(good, dataBytes: 12))
        #expect(truncated?.field == "w")
        #expect(truncated?.message.contains("truncated") == true)

        let shortHeader = error(try rawFile(good, dataBytes: 0, declaredLength: 500))
        #expect(shortHeader?.message.contains("truncated") == true)

        let tiny = temporaryURL("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        #expect(error(tiny)?.message.contains("truncated") == true)

        let inconsistent = error(try rawFile(#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#, dataBytes: 24))
        #expect(inconsistent?.field == "w")
        #expect(inconsistent?.message.contains("needs 24") == true)

        // A header length beyond Int and a shape whose size overflows are errors, not traps.
        let hugeLength = error(try rawFile(good, dataBytes: 16, declaredLength: UInt64.max))
        #expect(hugeLength?.message.contains("implausible") == true)
        let hugeShape = error(try rawFile(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#, dataBytes: 16))
        #expect(hugeShape?.field == "w")

        let badType = error(try rawFile(#"{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4))
        #expect(badType?.field == "w" && badType?.allowed.contains("BF16") == true)

        let overlap = error(try rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12))
        #expect(overlap?.message.contains("overlaps") == true)

        let notJSON = error(try rawFile("{not json", dataBytes: 0))
        #expect(notJSON?.message.contains("JSON") == true)

        let badEntry = error(try rawFile(#"{"w":{"dtype":"F32","shape":"x","data_offsets":[0,4]}}"#, dataBytes: 4))
        #expect(badEntry?.field == "w")

        let missing = error(URL(fileURLWithPath: "/nonexistent/dir/file.safetensors"))
        #expect(missing?.file == "/nonexistent/dir/file.safetensors")
    }
}
