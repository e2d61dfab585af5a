import BiomechCore
import CMatrixKernels
import Foundation
import GGUF
import NumericsEngine
import GradientChecking
import Testing
@testable import LoRAAdapter
@testable import QLoRAAdapter

@Suite struct NF4Tests {
    @Test func codeTableIsBitsandbytes() {
        #expect(NF4.codeValues.count == 16)
        #expect(NF4.codeValues.first == -1 && NF4.codeValues.last == 1 && NF4.codeValues[7] == 0)
        #expect(NF4.codeValues[8] == 0.07958029955625534)
        #expect(zip(NF4.codeValues, NF4.codeValues.dropFirst()).allSatisfy { $0 < $1 })
        for (i, v) in NF4.codeValues.enumerated() { #expect(NF4.code(v) == UInt8(i)) }
    }

    @Test func dynamicMapIsBitsandbytes() {
        let m = NF4.dynamicMap
        #expect(m.count == 256)
        #expect(m.first! < -0.99 && m.last == 1)
        #expect(m.contains(0))
        #expect(zip(m, m.dropFirst()).allSatisfy { $0 <= $1 })
        // The smallest magnitudes are 1e-6 · (0.1 + 1)/2 (exponent −6, one fraction item).
        let smallest = m.filter { $0 > 0 }.min()!
        #expect(abs(smallest - 0.55e-6) < 1e-9)
    }

    @Test func codeValuesRoundTripExactly() {
        // One block per row: each row holds every code value times a power-of-two scale.
        let columns = 64, rows = 3
        var values = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows { for c in 0..<columns { values[r * columns + c] = NF4.codeValues[c % 16] * Float(1 << r) } }
        let t = Tensor(shape: [rows, columns], values: values)
        let w = NF4Weight(quantizing: t, blockSize: 64, doubleQuantization: false)
        var out = [Float](repeating: 0, count: values.count)
        out.withUnsafeMutableBufferPointer { w.dequantizeRows(0..<rows, into: $0.baseAddress!) }
        #expect(out == values)
        #expect(w.code(at: 0) == 0 && w.code(at: 1) == 1 && w.code(at: 15) == 15)
        #expect(w.packed[0] == 0x01)  // first value in the high nibble
        #expect(w.storageBytes == rows * columns / 2 + rows * 4 + 4)
    }

    /// The quantizing kernel's vector and portable paths give the codes and scales of the
    /// definition (`NF4.code` of value / block absmax), for whole and ragged (odd) last blocks,
    /// values exactly on the midpoints between code values, and an all-zero block.
    @Test(arguments: [64, 32, 2])
    func quantizingKernelMatchesTheDefinition(blockSize: Int) {
        var rng = SeededRandom(seed: UInt64(blockSize))
        let n = 3 * 64 + 37
        var w = (0..<n).map { _ in Float(rng.nextGaussian()) }
        // The first 64 values in [-1, 1] with absmax 1, and 15 of them exactly on the midpoints.
        for i in 16..<64 { w[i] = max(-0.99, min(0.99, w[i] / 4)) }
        for k in 0..<15 { w[k] = NF4.thresholds[k] }
        w[15] = 1
        for i in 64..<128 { w[i] = 0 }
        let blocks = (n + blockSize - 1) / blockSize
        var expectedScales = [Float](repeating: 0, count: blocks), expectedCodes = [UInt8](repeating: 0, count: (n + 1) / 2)
        for b in 0..<blocks {
            let range = (b * blockSize)..<min(n, (b + 1) * blockSize)
            let m = range.map { abs(w[$0]) }.max()!
            expectedScales[b] = m
            let inv: Float = m > 0 ? 1 / m : 0
            for i in range { expectedCodes[i / 2] |= NF4.code(w[i] * inv) << (i % 2 == 0 ? 4 : 0) }
        }
        for vector in [true, false] {
            var scales = [Float](repeating: .nan, count: blocks), codes = [UInt8](repeating: 0xAA, count: (n + 1) / 2)
            NF4.thresholds.withUnsafeBufferPointer { t in
                if vector { nf4_quantize(w, Int64(n), Int64(blockSize), t.baseAddress!, 0, Int64(blocks), &scales, &codes) }
                else { nf4_quantize_portable(w, Int64(n), Int64(blockSize), t.baseAddress!, 0, Int64(blocks), &scales, &codes) }
            }
            #expect(scales == expectedScales, "block \(blockSize), vector \(vector)")
            #expect(codes == expectedCodes, "block \(blockSize), vector \(vector)")
        }
        if blockSize == 64 {
            #expect(expectedCodes[0] == 0x01 && expectedCodes[7] == 0xEF, "midpoints round down: code k for threshold k")
        }
    }

    @Test(arguments: [false, true])
    func quantizationErrorIsBounded(doubleQuantization: Bool) {
        var rng = SeededRandom(seed: 2)
        let rows = 40, columns = 96  // blocks cross row boundaries
        let t = Tensor.randomNormal(shape: [rows, columns], std: 0.05, using: &rng)
        let w = NF4Weight(quantizing: t, blockSize: 64, doubleQuantization: doubleQuantization)
        var out = [Float](repeating: 0, count: t.count)
        out.withUnsafeMutableBufferPointer { w.dequantizeRows(0..<rows, into: $0.baseAddress!) }
        let halfGap = zip(NF4.codeValues, NF4.codeValues.dropFirst()).map { ($1 - $0) / 2 }.max()!
        var maxAbsmax: Float = 0
        var worst: Float = 0
        for b in 0..<(t.count / 64) {
            var m: Float = 0
            for i in (b * 64)..<((b + 1) * 64) { m = max(m, abs(t.data[i])) }
            maxAbsmax = max(maxAbsmax, m)
            let s = w.scale(ofBlock: b)
            if doubleQuantization { #expect(abs(s - m) <= 0.01 * m) } else { #expect(s == m) }
            for i in (b * 64)..<((b + 1) * 64) {
                worst = max(worst, abs(out[i] - t.data[i]) - (halfGap * m + 1.01 * abs(s - m)))
            }
        }
        #expect(worst <= 1e-6)
        // Partial row ranges agree with the whole.
        var part = [Float](repeating: 0, count: 7 * columns)
        part.withUnsafeMutableBufferPointer { w.dequantizeRows(5..<12, into: $0.baseAddress!) }
        #expect(part == Array(out[(5 * columns)..<(12 * columns)]))
        // Memory: about 4.13 bits per value with double quantization, 4.5 without.
        let bits = Double(w.storageBytes * 8) / Double(t.count)
        #expect(bits < (doubleQuantization ? 4.2 : 4.6))
    }
}

/// A dense reference: the dequantized weight in a `Linear`.
func denseReference(_ w: any QuantizedWeight) -> Linear {
    let t = Tensor(shape: [w.rows, w.columns])
    w.dequantizeRows(0..<w.rows, into: t.data)
    return Linear(weight: Parameter(name: "dense", value: t, isTrainable: false))
}

func q8Weight(rows: Int, columns: Int, seed: UInt64) throws -> GGMLWeight {
    var rng = SeededRandom(seed: seed)
    var bytes: [UInt8] = []
    for _ in 0..<(rows * columns / 32) {
        let d = Float16(Float(rng.nextDouble() * 0.01 + 0.001))
        bytes += [UInt8(d.bitPattern & 0xFF), UInt8(d.bitPattern >> 8)]
        for _ in 0..<32 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
    }
    var k4: [UInt8] = []
    for _ in 0..<(rows * 256 / 256) {
        let d = Float16(Float(0.002)), dmin = Float16(Float(0.001))
        k4 += [UInt8(d.bitPattern & 0xFF), UInt8(d.bitPattern >> 8), UInt8(dmin.bitPattern & 0xFF), UInt8(dmin.bitPattern >> 8)]
        for _ in 0..<140 { k4.append(UInt8(truncatingIfNeeded: rng.next())) }
    }
    var writer = GGUFWriter()
    try writer.addTensor("blk.0.attn_q.weight", type: .q8_0, dimensions: [columns, rows], bytes: bytes)
    try writer.addTensor("blk.0.ffn_down.weight", type: .q4_K, dimensions: [256, rows], bytes: k4)
    let file = try GGUFFile(data: writer.serialized())
    return try GGMLWeight(file: file, tensor: "blk.0.attn_q.weight")
}

@Suite struct QuantizedProjectionTests {
    func weights() throws -> [any QuantizedWeight] {
        var rng = SeededRandom(seed: 5)
        let t = Tensor.randomNormal(shape: [50, 64], std: 0.1, using: &rng)
        let q8 = try q8Weight(rows: 50, columns: 64, seed: 3)
        let k4 = try GGMLWeight(file: q8.file, tensor: "blk.0.ffn_down.weight")
        return [NF4Weight(quantizing: t), NF4Weight(quantizing: t, doubleQuantization: false), q8, k4]
    }

    @Test func tiledProductsEqualTheDenseProduct() throws {
        for w in try weights() {
            // Tiles of 16 rows: 50 rows → 4 tiles, the last partial.
            let q = QuantizedProjection(name: "q", weight: w, tileElements: 16 * w.columns)
            #expect(q.tileRows == 16)
            let dense = denseReference(w)
            var rng = SeededRandom(seed: 8)
            let x = Tensor.randomNormal(shape: [7, w.columns], std: 1, using: &rng)
            let y = q.forward(x).clone(), yd = dense.forward(x)
            for i in 0..<y.count { #expect(abs(y.data[i] - yd.data[i]) <= 1e-5 * max(1, abs(yd.data[i])), "\(w.formatName)") }
            let dy = Tensor.randomNormal(shape: [7, 50], std: 1, using: &rng)
            let dx = q.backward(dy)!.clone(), dxd = dense.backward(dy)!
            for i in 0..<dx.count { #expect(abs(dx.data[i] - dxd.data[i]) <= 1e-5 * max(1, abs(dxd.data[i])), "\(w.formatName)") }
            #expect(q.parameters.isEmpty)
        }
    }

    /// Forwards of up to 4 rows multiply from the NF4 codes or the GGUF blocks; they equal the
    /// dense product, and backward after them is unchanged. NF4 whose rows are not whole blocks
    /// takes the tile path.
    @Test func fewRowForwardsEqualTheDenseProduct() throws {
        var rng = SeededRandom(seed: 21)
        let ragged = NF4Weight(quantizing: Tensor.randomNormal(shape: [9, 70], std: 0.1, using: &rng))
        #expect(!ragged.multipliesRows)
        for w in try weights() + [ragged] {
            #expect(w.multipliesRows == (w.columns % 64 == 0), "\(w.formatName)")
            let q = QuantizedProjection(name: "q", weight: w, tileElements: 16 * w.columns)
            let dense = denseReference(w)
            for rows in [1, 3] {
                let x = Tensor.randomNormal(shape: [rows, w.columns], std: 1, using: &rng)
                let y = q.forward(x).clone(), yd = dense.forward(x)
                for i in 0..<y.count { #expect(abs(y.data[i] - yd.data[i]) <= 1e-5 * max(1, abs(yd.data[i])), "\(w.formatName) rows \(rows)") }
                let dy = Tensor.randomNormal(shape: [rows, w.rows], std: 1, using: &rng)
                let dx = q.backward(dy)!.clone(), dxd = dense.backward(dy)!
                for i in 0..<dx.count { #expect(abs(dx.data[i] - dxd.data[i]) <= 1e-5 * max(1, abs(dxd.data[i])), "\(w.formatName) rows \(rows)") }
            }
        }
    }

    /// The NF4 matrix-vector kernel, vector and portable paths, against dequantize-then-dot in
    /// Double, for block sizes that take the vector path (64, 32) and one that does not (2).
    @Test func nf4KernelMatchesDequantizedDot() throws {
        var rng = SeededRandom(seed: 22)
        for (blockSize, double) in [(64, true), (64, false), (32, true), (2, false)] {
            let t = Tensor.randomNormal(shape: [37, 128], std: 0.3, using: &rng)
            let w = NF4Weight(quantizing: t, blockSize: blockSize, doubleQuantization: double)
            let x = (0..<128).map { _ in Float(rng.nextGaussian()) }
            var dequantized = [Float](repeating: 0, count: 37 * 128)
            dequantized.withUnsafeMutableBufferPointer { w.dequantizeRows(0..<37, into: $0.baseAddress!) }
            var fast = [Float](repeating: .nan, count: 37)
            let handled = fast.withUnsafeMutableBufferPointer { w.multiplyRows(2..<37, by: x, into: $0.baseAddress! + 2) }
            #expect(handled)
            #expect(fast[0].isNaN && fast[1].isNaN, "rows before the range were written")
            var portable = [Float](repeating: .nan, count: 37)
            let status = w.withKernelView { nf4_matvec_portable(&$0, 0, 37, x, &portable) }
            try #require(status == 0)
            for r in 2..<37 {
                var reference = 0.0, magnitude = 0.0
                for c in 0..<128 { let p = Double(dequantized[r * 128 + c]) * Double(x[c]); reference += p; magnitude += abs(p) }
                #expect(abs(Double(fast[r]) - reference) <= 1e-5 * magnitude, "block \(blockSize) row \(r): \(fast[r]) vs \(reference)")
                #expect(abs(Double(portable[r]) - reference) <= 1e-5 * magnitude, "block \(blockSize) row \(r) portable")
            }
        }
    }

    @Test func inputGradientMatchesFiniteDifferences() throws {
        var rng = SeededRandom(seed: 12)
        let t = Tensor.randomNormal(shape: [20, 64], std: 0.2, using: &rng)
        let q = QuantizedProjection(name: "q", weight: NF4Weight(quantizing: t), tileElements: 8 * 64)
        let lora = LoRAProjection(wrapping: q, name: "q", rank: 4, alpha: 8, dropout: 0, random: &rng)
        for i in 0..<lora.loraB.value.count { lora.loraB.value.data[i] = Float(rng.nextGaussian()) * 0.2 }
        let x = Tensor.randomNormal(shape: [3, 64], std: 1, using: &rng)
        let r = Tensor.randomNormal(shape: [3, 20], std: 1, using: &rng)
        func loss() -> Double { GradCheck.weightedSum(lora.forward(x), r) }
        _ = loss()
        let dx = lora.backward(r)!.clone()
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(lora.loraA.value, loss), lora.loraA.grad!) <= 0)
    }

    @Test func qloraAttachQuantizesTheTargets() throws {
        let model = ToyModel(hidden: 64, mlp: 128)
        var dense: [String: Tensor] = [:]
        for (n, p) in model.projections { dense[n] = (p as! Linear).weight.value.clone() }
        let adapter = QLoRAAdapter(configuration: .init(lora: .init(rank: 4, alpha: 8, dropout: 0)))
        try adapter.attach(toModel: model)
        #expect(adapter.lora.projections.count == 14)
        for p in adapter.lora.projections {
            let q = try #require(p.base as? QuantizedProjection)
            let w = try #require(q.weight as? NF4Weight)
            #expect(w.doubleQuantized && w.blockSize == 64)
            let reference = dense[p.name]!
            var out = [Float](repeating: 0, count: reference.count)
            out.withUnsafeMutableBufferPointer { w.dequantizeRows(0..<w.rows, into: $0.baseAddress!) }
            var maxErr: Float = 0, maxVal: Float = 0
            for i in 0..<out.count { maxErr = max(maxErr, abs(out[i] - reference.data[i])); maxVal = max(maxVal, abs(reference.data[i])) }
            #expect(maxErr < 0.16 * maxVal)  // half the widest NF4 gap (0.139) plus the scale error
        }
        #expect(adapter.quantizedBytes > 0)
        let dir = temporaryDirectory("qlora")
        try adapter.save(to: dir)
        let config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        #expect((config["biomechgpt"] as? [String: String])?["quantization"] == "nf4")
    }

    @Test func ggufModeNeedsAGGUFBackbone() {
        let model = ToyModel()
        let adapter = QLoRAAdapter(configuration: .init(quantization: .gguf))
        #expect(throws: InputError.self) { try adapter.attach(toModel: model) }
        // Nothing was replaced or frozen by the failed attach.
        #expect(model.projections.allSatisfy { $0.1 is Linear })
        #expect(model.parameters.allSatisfy { $0.isTrainable })
        #expect(LlamaCppTensorNames.weightName(forProjection: "model.layers.3.self_attn.o_proj") == "blk.3.attn_output.weight")
        #expect(LlamaCppTensorNames.weightName(forProjection: "model.layers.17.mlp.down_proj") == "blk.17.ffn_down.weight")
    }

    @Test func recipeParameters() throws {
        let c = try QLoRAConfiguration(PluginParameters(["quantization": "gguf", "rank": "16"]))
        #expect(c.quantization == .gguf && c.lora.rank == 16 && c.blockSize == 64 && c.doubleQuantization)
        #expect(throws: InputError.self) { try QLoRAConfiguration(PluginParameters(["quantization": "int8"])) }
        #expect(QLoRAAdapter.descriptor.parameters.map(\.name).contains("double_quantization"))
    }

    /// The real model's GGUF blocks, when the file is present (`make model`).
    @Test func realModelProjectionTiles() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { return }
        let file = try GGUFFile(path: path)
        for name in ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.attn_v.weight", "blk.2.ffn_gate.weight"] {
            let w = try GGMLWeight(file: file, tensor: name)
            let q = QuantizedProjection(name: name, weight: w)
            let full = try file.dequantize(name)
            var rng = SeededRandom(seed: 1)
            let x = Tensor.randomNormal(shape: [4, w.columns], std: 1, using: &rng)
            let y = q.forward(x)
            for o in stride(from: 0, to: w.rows, by: 97) {
                var s: Double = 0
                for i in 0..<w.columns { s += Double(x.data[i]) * Double(full[o * w.columns + i]) }
                #expect(abs(Double(y.data[o]) - s) < 1e-3 * max(1, abs(s)), "\(name) [\(w.formatName)]")
            }
        }
    }
}
