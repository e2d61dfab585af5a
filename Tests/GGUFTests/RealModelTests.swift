import BiomechCore
import Foundation
import Testing
@testable import GGUF

@Suite("GGUF reader on the real Gemma 3 270M file")
struct RealModelTests {
    @Test("metadata and tensor list")
    func metadataAndTensors() throws {
        guard let url = TestPaths.realModel(for: "GGUF real model metadata") else { return }
        let file = try GGUFFile(url: url)
        let m = file.metadata
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        #expect(file.architecture == "gemma3")
        #expect(try m.int("gemma3.embedding_length") == 640)
        #expect(try m.int("gemma3.block_count") == 18)
        #expect(try m.int("gemma3.feed_forward_length") == 2048)
        #expect(try m.int("gemma3.attention.head_count") == 4)
        #expect(try m.int("gemma3.attention.head_count_kv") == 1)
        #expect(try m.int("gemma3.attention.key_length") == 256)
        #expect(try m.int("gemma3.attention.sliding_window") == 512)
        #expect(try m.double("gemma3.rope.freq_base") == 1_000_000)
        #expect(try m.float("gemma3.attention.layer_norm_rms_epsilon") == 1e-6)
        #expect(try m.string("tokenizer.ggml.model") == "llama")
        #expect(try m.bool("tokenizer.ggml.add_space_prefix") == false)
        #expect(try m.strings("tokenizer.ggml.tokens")?.count == 262_144)
        #expect(try m.floats("tokenizer.ggml.scores")?.count == 262_144)
        #expect(try m.ints("tokenizer.ggml.token_type")?.count == 262_144)
        #expect(m.count == 33)

        #expect(file.tensors.count == 236)
        var counts: [GGMLType: Int] = [:]
        for t in file.tensors { counts[t.type, default: 0] += 1 }
        #expect(counts == [.f32: 109, .q5_0: 81, .q4_K: 27, .q8_0: 10, .q6_K: 9])
        let embedding = try file.tensor("token_embd.weight")
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [640, 262_144])
        #expect(embedding.rowCount == 262_144 && embedding.rowLength == 640)
        #expect(!file.hasTensor("output.weight"))  // tied to the embedding
        for layer in 0..<18 {
            for leaf in ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
                         "attn_norm", "attn_q_norm", "attn_k_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"] {
                #expect(file.hasTensor("blk.\(layer).\(leaf).weight"), "blk.\(layer).\(leaf)")
            }
        }
        let last = file.tensors.max(by: { $0.fileOffset < $1.fileOffset })!
        #expect(last.fileOffset + last.byteCount <= file.fileSize)
    }

    @Test("blocks read from the file match the fixture, and rows match whole tensors")
    func blocksFromFile() throws {
        guard let url = TestPaths.realModel(for: "GGUF real model blocks") else { return }
        let file = try GGUFFile(url: url)
        for c in try DequantizeFixture.load().cases where c.source.contains(":") {
            let tensorName = String(c.source.split(separator: ":").last!)
            let info = try file.tensor(tensorName)
            #expect(info.type.name == c.type)
            let expected = [UInt8](hex: c.values_f32_hex).littleEndianFloats
            let expectedBytes = [UInt8](hex: c.bytes_hex)
            let raw = file.rawBytes(of: info)
            var got: [Float] = []
            var gotBytes: [UInt8] = []
            for block in c.blocks ?? [] {
                var out = [Float](repeating: 0, count: info.type.blockSize)
                try out.withUnsafeMutableBufferPointer { try file.dequantizeBlocks(info, block..<(block + 1), into: $0) }
                got += out
                gotBytes += raw[(block * info.type.typeSize)..<((block + 1) * info.type.typeSize)]
            }
            #expect(gotBytes == expectedBytes, "\(c.name)")
            #expect(sameBits(got, expected).0, "\(c.name)")
        }
        // Row ranges agree with the whole tensor, for each quantized type.
        for name in ["blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_down.weight"] {
            let info = try file.tensor(name)
            let whole = try file.dequantize(name)
            #expect(whole.count == info.elementCount)
            let rows = try file.dequantizeRows(name, 100..<103)
            #expect(rows == Array(whole[(100 * info.rowLength)..<(103 * info.rowLength)]), "\(name)")
            #expect(whole.allSatisfy { $0.isFinite })
        }
        let normWeights = try file.dequantize("output_norm.weight")
        #expect(normWeights.count == 640)
        // Some embedding rows, tile by tile.
        let embedding = try file.tensor("token_embd.weight")
        let rows = try file.dequantizeRows(embedding, 262_140..<262_144)
        #expect(rows.count == 4 * 640)
    }
}
