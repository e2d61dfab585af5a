import BiomechCore
import Foundation
import Testing
@testable import GGUF

struct DequantizeFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var type: String
        var source: String
        var block_count: Int
        var bytes_hex: String
        var values_f32_hex: String
        var blocks: [Int]?
    }
    var cases: [Case]
    var gguf_version: String

    static func load() throws -> DequantizeFixture {
        try JSONDecoder().decode(DequantizeFixture.self, from: Data(contentsOf: TestPaths.fixture("dequantize_reference.json")))
    }
}

/// Compares bit patterns; two NaNs count as equal whatever their payloads.
func sameBits(_ a: [Float], _ b: [Float]) -> (Bool, String) {
    guard a.count == b.count else { return (false, "count \(a.count) vs \(b.count)") }
    for i in a.indices where a[i].bitPattern != b[i].bitPattern && !(a[i].isNaN && b[i].isNaN) {
        return (false, "index \(i): \(a[i]) vs \(b[i])")
    }
    return (true, "")
}

@Suite("Dequantization against gguf.quants")
struct DequantizeTests {
    @Test("every fixture case dequantizes bit-exactly")
    func fixtureCases() throws {
        let fixture = try DequantizeFixture.load()
        let types = Set(fixture.cases.map(\.type))
        #expect(types == Set(["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q5_K", "Q6_K"]))
        for c in fixture.cases {
            let type = try #require(GGMLType(name: c.type), "unknown type \(c.type)")
            let bytes = [UInt8](hex: c.bytes_hex)
            let expected = [UInt8](hex: c.values_f32_hex).littleEndianFloats
            #expect(bytes.count == c.block_count * type.typeSize, "\(c.name)")
            let got = try GGMLDequantizer.dequantize(type, bytes: bytes)
            let (same, detail) = sameBits(got, expected)
            #expect(same, "\(c.name): \(detail)")
        }
    }

    @Test("dequantizing one block at a time gives the same values as all blocks at once")
    func blockwise() throws {
        for c in try DequantizeFixture.load().cases where c.block_count > 1 {
            let type = try #require(GGMLType(name: c.type))
            let bytes = [UInt8](hex: c.bytes_hex)
            let whole = try GGMLDequantizer.dequantize(type, bytes: bytes)
            var pieces: [Float] = []
            for b in 0..<c.block_count {
                pieces += try GGMLDequantizer.dequantize(type, bytes: Array(bytes[(b * type.typeSize)..<((b + 1) * type.typeSize)]))
            }
            #expect(sameBits(whole, pieces).0, "\(c.name)")
        }
    }

    @Test("half-precision conversion is exact for every bit pattern")
    func halfConversion() {
        for bits in 0...UInt16.max {
            let got = GGMLDequantizer.halfToFloat(bits)
            let exponent = (bits >> 10) & 0x1F
            let mantissa = Double(bits & 0x3FF)
            let sign: Double = bits & 0x8000 != 0 ? -1 : 1
            if exponent == 31 {
                if mantissa == 0 { #expect(got == Float(sign * .infinity)) } else { #expect(got.isNaN) }
                continue
            }
            let expected = exponent == 0 ? sign * mantissa * 0x1p-24 : sign * (1 + mantissa / 1024) * pow(2, Double(Int(exponent) - 15))
            if got != Float(expected) || got.sign != Float(expected).sign {
                Issue.record("half \(String(bits, radix: 16)): \(got) vs \(expected)")
                return
            }
        }
    }

    @Test("wrong byte counts and unsupported types are input errors")
    func errors() throws {
        #expect(throws: InputError.self) { try GGMLDequantizer.dequantize(.q4_K, bytes: [UInt8](repeating: 0, count: 143)) }
        #expect(throws: InputError.self) { try GGMLDequantizer.dequantize(.q2_K, bytes: [UInt8](repeating: 0, count: 84)) }
        #expect(throws: InputError.self) {
            var out = [Float](repeating: 0, count: 31)
            try [UInt8](repeating: 0, count: 34).withUnsafeBytes { raw in
                try out.withUnsafeMutableBufferPointer { try GGMLDequantizer.dequantize(.q8_0, blocks: raw, into: $0) }
            }
        }
        #expect(try GGMLDequantizer.dequantize(.q8_0, bytes: []).isEmpty)
    }
}
