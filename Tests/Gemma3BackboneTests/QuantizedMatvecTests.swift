import BiomechCore
import CGemmaKernels
import Foundation
import GGUF
import NumericsEngine
import Testing
@testable import Gemma3Backbone

/// The quantized matrix-vector kernels against `GGMLDequantizer` (the dequantizer that the
/// block-by-block `gguf` fixtures check) followed by a dot product in Double.
@Suite("Quantized matrix-vector kernels")
struct QuantizedMatvecTests {
    /// Random blocks of `type` with sane f16 scales (random bytes elsewhere: every code,
    /// sub-block scale and high bit pattern occurs).
    static func randomRows(_ type: GGMLType, rows: Int, width: Int, rng: inout SeededRandom) -> [UInt8] {
        let blocksPerRow = width / type.blockSize
        var bytes = (0..<(rows * blocksPerRow * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: rng.nextInt(below: 256)) }
        // f16 offsets inside a block: d (and dmin for the K types with a min).
        let halfOffsets: [Int]
        switch type {
        case .q4_K, .q5_K: halfOffsets = [0, 2]
        case .q6_K: halfOffsets = [208]
        default: halfOffsets = [0]
        }
        for b in 0..<(rows * blocksPerRow) {
            for o in halfOffsets {
                // ±2⁻⁵…2⁻⁴ with a random mantissa: finite, and large enough to matter.
                let h = UInt16(0x2800) | UInt16(rng.nextInt(below: 0x400)) | (rng.nextInt(below: 2) == 0 ? 0 : 0x8000)
                bytes[b * type.typeSize + o] = UInt8(h & 0xFF)
                bytes[b * type.typeSize + o + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    @Test("every handled type equals dequantize-then-dot, vector and portable paths",
          arguments: [GGMLType.q4_0, .q5_0, .q8_0, .q4_K, .q5_K, .q6_K])
    func matchesDequantizer(type: GGMLType) throws {
        var rng = SeededRandom(seed: 11)
        let rows = 5, width = 512
        let bytes = Self.randomRows(type, rows: rows, width: width, rng: &rng)
        let x = (0..<width).map { _ in Float(rng.nextGaussian()) }
        let rowBytes = width / type.blockSize * type.typeSize
        var fast = [Float](repeating: .nan, count: rows), portable = [Float](repeating: .nan, count: rows)
        // Rows 1..<5 only: the output pointer is the first computed row's.
        bytes.withUnsafeBytes { raw in
            #expect(gemma_quantized_matvec(Int32(type.rawValue), raw.baseAddress, 1, Int64(rows), Int64(width), x, &fast[1]) == 0)
            #expect(gemma_quantized_matvec_portable(Int32(type.rawValue), raw.baseAddress, 1, Int64(rows), Int64(width), x,
                                                    &portable[1]) == 0)
        }
        #expect(fast[0].isNaN && portable[0].isNaN, "row 0 was not asked for")
        for r in 1..<rows {
            let w = try GGMLDequantizer.dequantize(type, bytes: Array(bytes[(r * rowBytes)..<((r + 1) * rowBytes)]))
            var reference = 0.0, magnitude = 0.0
            for i in 0..<width { reference += Double(w[i]) * Double(x[i]); magnitude += abs(Double(w[i]) * Double(x[i])) }
            #expect(magnitude > 1, "\(type): degenerate test row")
            #expect(abs(Double(fast[r]) - reference) <= 1e-5 * magnitude, "\(type) row \(r): \(fast[r]) vs \(reference)")
            #expect(abs(Double(portable[r]) - reference) <= 1e-5 * magnitude, "\(type) row \(r) portable: \(portable[r]) vs \(reference)")
        }
    }

    @Test("the pooled row-parallel product equals the serial one, bit for bit, for any thread and row count")
    func parallelEqualsSerial() throws {
        var rng = SeededRandom(seed: 5)
        for type in [GGMLType.q5_0, .q8_0, .q4_K] {
            let width = 512
            for rows in [1, 2, 7, 61, 1000] {
                let bytes = Self.randomRows(type, rows: rows, width: width, rng: &rng)
                let x = (0..<width).map { _ in Float(rng.nextGaussian()) }
                var serial = [Float](repeating: .nan, count: rows)
                bytes.withUnsafeBytes { raw in
                    #expect(gemma_quantized_matvec(Int32(type.rawValue), raw.baseAddress, 0, Int64(rows), Int64(width), x, &serial) == 0)
                }
                for threads in [1, 2, 3, 5] {
                    // Repeated: consecutive jobs reuse the pool's spinning workers.
                    for _ in 0..<3 {
                        var parallel = [Float](repeating: .nan, count: rows)
                        bytes.withUnsafeBytes { raw in
                            #expect(gemma_quantized_matvec_parallel(Int32(type.rawValue), raw.baseAddress, Int64(rows), Int64(width),
                                                                    x, &parallel, Int32(threads)) == 0)
                        }
                        #expect(parallel.map(\.bitPattern) == serial.map(\.bitPattern), "\(type), \(rows) rows, \(threads) threads")
                    }
                }
            }
        }
        var y = [Float](repeating: 0, count: 4)
        let x = [Float](repeating: 1, count: 256), blocks = [UInt8](repeating: 0, count: 4096)
        blocks.withUnsafeBytes { raw in
            #expect(gemma_quantized_matvec_parallel(Int32(GGMLType.f16.rawValue), raw.baseAddress, 4, 256, x, &y, 2) == -1)
        }
    }

    @Test("callers on several threads at once each get their own product (one uses the pool, the others run serially)")
    func concurrentCallers() async throws {
        var rng = SeededRandom(seed: 9)
        let rows = 300, width = 640, type = GGMLType.q5_0
        let bytes = Self.randomRows(type, rows: rows, width: width, rng: &rng)
        let inputs = (0..<6).map { _ in (0..<width).map { _ in Float(rng.nextGaussian()) } }
        let expected = inputs.map { x in
            var y = [Float](repeating: 0, count: rows)
            bytes.withUnsafeBytes { raw in _ = gemma_quantized_matvec(Int32(type.rawValue), raw.baseAddress, 0, Int64(rows), Int64(width), x, &y) }
            return y
        }
        let results = await withTaskGroup(of: (Int, [Float]).self) { group in
            for (i, x) in inputs.enumerated() {
                group.addTask {
                    var last = [Float]()
                    for _ in 0..<20 {
                        var y = [Float](repeating: .nan, count: rows)
                        bytes.withUnsafeBytes { raw in
                            _ = gemma_quantized_matvec_parallel(Int32(type.rawValue), raw.baseAddress, Int64(rows), Int64(width), x, &y, 2)
                        }
                        last = y
                    }
                    return (i, last)
                }
            }
            var all = [[Float]](repeating: [], count: inputs.count)
            for await (i, y) in group { all[i] = y }
            return all
        }
        for i in inputs.indices { #expect(results[i].map(\.bitPattern) == expected[i].map(\.bitPattern), "caller \(i)") }
    }

    @Test("types without a kernel and widths that are not whole blocks are refused")
    func refusals() {
        var y: Float = 0
        let x = [Float](repeating: 1, count: 256), blocks = [UInt8](repeating: 0, count: 1024)
        blocks.withUnsafeBytes { raw in
            #expect(gemma_quantized_matvec(Int32(GGMLType.f16.rawValue), raw.baseAddress, 0, 1, 256, x, &y) == -1)
            #expect(gemma_quantized_matvec(Int32(GGMLType.q4_K.rawValue), raw.baseAddress, 0, 1, 96, x, &y) == -1)
            #expect(gemma_quantized_matvec(Int32(GGMLType.q5_0.rawValue), raw.baseAddress, 0, 1, 40, x, &y) == -1)
        }
    }

    @Test("a frozen Linear uses its single-row product for one row only, and not once trainable")
    func linearUsesProductForOneRow() {
        /// W · x computed as 2 × the true product, so the test sees which path ran.
        final class Doubling: SingleRowProduct, @unchecked Sendable {
            let weight: Tensor
            init(_ w: Tensor) { weight = w }
            var inFeatures: Int { weight.shape[1] }
            var outFeatures: Int { weight.shape[0] }
            func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
                for o in 0..<outFeatures {
                    var s: Float = 0
                    for i in 0..<inFeatures { s += weight.data[o * inFeatures + i] * x[i] }
                    y[o] = 2 * s
                }
            }
        }
        var rng = SeededRandom(seed: 2)
        let w = Tensor.randomNormal(shape: [3, 4], std: 1, using: &rng)
        let linear = Linear(weight: Parameter(name: "w", value: w, isTrainable: false))
        let x1 = Tensor.randomNormal(shape: [1, 4], std: 1, using: &rng)
        let plain = linear.forward(x1).scalars
        linear.singleRowProduct = Doubling(w)
        let viaProduct = linear.forward(x1).scalars
        for j in 0..<3 { #expect(abs(viaProduct[j] - 2 * plain[j]) < 1e-5) }
        let x2 = Tensor.randomNormal(shape: [2, 4], std: 1, using: &rng)
        let two = linear.forward(x2).scalars
        linear.singleRowProduct = nil
        #expect(linear.forward(x2).scalars == two, "two rows go through the dense product")
        linear.singleRowProduct = Doubling(w)
        linear.weight.unfreeze()
        #expect(linear.forward(x1).scalars == plain, "a trainable weight ignores the frozen copy")
    }
}

/// In the real-model suite: it shares the loaded model, which must not run two tests at once.
extension RealModelForwardTests {
    @Test("the projections of the real model decode from their GGUF blocks, with the full forward's logits")
    func decodingMatchesForward() throws {
        guard let model = try RealModel.load() else { return }
        let kinds = model.layers.flatMap { layer in
            Gemma3DecoderLayer.projectionKeys.compactMap { (layer.projection($0) as? Linear)?.singleRowProduct }
        }
        #expect(kinds.count == model.layers.count * 7, "every projection of the Q4_K_M file has a kernel")
        let f = try LogitFixture.load()
        let tokens = f.prompts[0].token_ids
        model.forward(Gemma3Batch([tokens]))
        let full = model.logits(rows: Array(0..<tokens.count)).scalars
        let v = model.vocabularySize
        let cache = Gemma3KVCache(configuration: model.configuration, maxLength: tokens.count)
        let prompt = 3
        model.prefill(Array(tokens[0..<prompt]), cache: cache)
        var worst: Float = 0, range: Float = 0
        for t in prompt..<tokens.count {
            let row = model.decode(tokens[t], cache: cache).scalars
            let reference = full[(t * v)..<((t + 1) * v)]
            range = max(range, reference.max()! - reference.min()!)
            for j in 0..<v { worst = max(worst, abs(row[j] - reference[t * v + j])) }
        }
        print("quantized decoding against the dense forward: max |Δ| = \(worst), logit range \(range)")
        #expect(worst < 1e-3 * range)
    }
}

/// bfloat16 projection products on the real model: how far the logits move from transformers'.
extension RealModelForwardTests {
    @Test("bfloat16 projection products keep the fixture logits close and the greedy continuation")
    func bfloat16Projections() throws {
        guard let model = try RealModel.load() else { return }
        guard BLAS.hasBFloat16Products else { print("SKIP bfloat16 projections: this processor has no AVX512-BF16"); return }
        model.projectionPrecision = .bfloat16
        defer { model.projectionPrecision = .float32 }
        let f = try LogitFixture.load()
        var worst = 0.0, topAgree = 0, positions = 0
        for p in f.prompts {
            model.forward(Gemma3Batch([p.token_ids]))
            let logits = model.logits(rows: Array(0..<p.token_ids.count))
            let v = model.vocabularySize
            for (t, ref) in p.positions.enumerated() {
                let row = UnsafeBufferPointer(start: logits.data + t * v, count: v)
                for (id, value) in zip(ref.top_ids, ref.top_logits) { worst = max(worst, abs(Double(row[id]) - value) / ref.range) }
                let best = row.indices.max { row[$0] < row[$1] }!
                if best == ref.top_ids[0] { topAgree += 1 }
                positions += 1
            }
        }
        print("bfloat16 projections: max |Δ| at the reference top-20 = \(worst) of the logit range; top-1 agrees at \(topAgree)/\(positions) positions")
        #expect(worst < 0.02, "bfloat16 rounding moved a logit by \(worst) of the range")
        #expect(Double(topAgree) >= 0.95 * Double(positions))
        // Prompt through bfloat16 products, continuation decoded from the GGUF blocks.
        let ids = Gemma3Generator(model: model).generate(prompt: f.greedy.prompt_ids,
                                                          options: .init(maxNewTokens: f.greedy.new_token_ids.count), stopTokens: [])
        let same = zip(ids, f.greedy.new_token_ids).prefix { $0 == $1 }.count
        print("bfloat16 projections: greedy continuation equals transformers' for \(same) of \(ids.count) tokens")
    }
}
