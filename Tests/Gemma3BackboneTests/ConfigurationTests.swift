import BiomechCore
import Foundation
import GGUF
import Testing
@testable import Gemma3Backbone

@Suite("Gemma 3 configuration")
struct ConfigurationTests {
    func decode(_ json: String) throws -> Gemma3Configuration {
        try JSONDecoder().decode(Gemma3Configuration.self, from: Data(json.utf8))
    }

    @Test("defaults are Gemma 3 270M")
    func defaults() {
        let c = Gemma3Configuration()
        #expect(c.hiddenSize == 640 && c.layerCount == 18 && c.headCount == 4 && c.kvHeadCount == 1)
        #expect(c.headDimension == 256 && c.intermediateSize == 2048 && c.vocabularySize == 262_144)
        #expect(c.layerTypes.indices.filter { c.isGlobal(layer: $0) } == [5, 11, 17])
        #expect(c.attentionScale == 1.0 / 16)
        #expect(abs(c.embeddingScale - 25.298221281347036) < 1e-12)
        #expect(c.finalLogitSoftcapping == nil && c.attentionLogitSoftcapping == nil)
    }

    @Test("the 270M config.json with layer_types")
    func hf270M() throws {
        let c = try decode("""
        {"_sliding_window_pattern": 6, "architectures": ["Gemma3ForCausalLM"], "attention_bias": false,
         "attn_logit_softcapping": null, "bos_token_id": 2, "eos_token_id": 1, "final_logit_softcapping": null,
         "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 640, "intermediate_size": 2048,
         "layer_types": ["sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                         "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                         "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention"],
         "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 18,
         "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
         "rope_local_base_freq": 10000.0, "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": 512,
         "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 262144}
        """)
        #expect(c == Gemma3Configuration())
    }

    @Test("a nested text_config with sliding_window_pattern, rope scaling and several eos ids")
    func nested4B() throws {
        let c = try decode("""
        {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
         "eos_token_id": [1, 106], "vision_config": {"hidden_size": 1152},
         "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
           "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
           "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024,
           "sliding_window_pattern": 6, "vocab_size": 262208}}
        """)
        #expect(c.hiddenSize == 2560 && c.layerCount == 34 && c.headCount == 8 && c.kvHeadCount == 4)
        #expect(c.ropeScalingFactor == 8 && c.slidingWindow == 1024 && c.vocabularySize == 262_208)
        #expect(c.layerTypes.count == 34)
        #expect(c.layerTypes.indices.filter { c.isGlobal(layer: $0) } == [5, 11, 17, 23, 29])
        #expect(c.queryPreAttentionScalar == 256)
        #expect(c.ropeLocalTheta == 10_000 && c.ropeTheta == 1_000_000)
    }

    @Test("rope_parameters per layer type, and an empty config taking every default")
    func ropeParametersAndEmpty() throws {
        let c = try decode("""
        {"num_hidden_layers": 12,
         "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 500000.0},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}}}
        """)
        #expect(c.ropeTheta == 500_000 && c.ropeLocalTheta == 20_000)
        #expect(c.layerTypes.count == 12 && c.isGlobal(layer: 5) && c.isGlobal(layer: 11))
        #expect(try decode("{}") == Gemma3Configuration())
    }

    @Test("encoding and decoding round-trips")
    func roundTrip() throws {
        var c = Gemma3Configuration()
        c.ropeScalingFactor = 8
        c.eosTokenIDs = [1, 106]
        c.finalLogitSoftcapping = 30
        let data = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(Gemma3Configuration.self, from: data) == c)
    }

    @Test("bad config files are input errors naming the file and field")
    func badFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gemma-config-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        try Data(#"{"hidden_size": "wide"}"#.utf8).write(to: url)
        let e = #expect(throws: InputError.self) { try Gemma3Configuration.load(configJSON: url) }
        #expect(e?.file == url.path && e?.field == "hidden_size")
        try Data(#"{"num_hidden_layers": 3, "layer_types": ["full_attention"]}"#.utf8).write(to: url)
        let e2 = #expect(throws: InputError.self) { try Gemma3Configuration.load(configJSON: url) }
        #expect(e2?.description.contains("one per layer") == true)
        #expect(throws: InputError.self) { try Gemma3Configuration.load(configJSON: dir.appendingPathComponent("none.json")) }
    }

    @Test("built from GGUF metadata")
    func fromMetadata() throws {
        var w = GGUFWriter()
        w.add("general.architecture", .string("gemma3"))
        w.add("gemma3.embedding_length", .uint32(64))
        w.add("gemma3.block_count", .uint32(7))
        w.add("gemma3.feed_forward_length", .uint32(128))
        w.add("gemma3.attention.head_count", .uint32(2))
        w.add("gemma3.attention.head_count_kv", .uint32(1))
        w.add("gemma3.attention.key_length", .uint32(32))
        w.add("gemma3.attention.value_length", .uint32(32))
        w.add("gemma3.attention.layer_norm_rms_epsilon", .float32(1e-6))
        w.add("gemma3.rope.freq_base", .float32(1_000_000))
        w.add("gemma3.attention.sliding_window", .uint32(16))
        w.add("tokenizer.ggml.tokens", .array(.string(["<pad>", "<eos>", "<bos>", "a"])))
        let c = try Gemma3Configuration(gguf: GGUFFile(data: w.serialized(), name: "tiny.gguf"))
        #expect(c.hiddenSize == 64 && c.layerCount == 7 && c.headDimension == 32 && c.vocabularySize == 4)
        #expect(c.queryPreAttentionScalar == 32 && c.slidingWindow == 16 && c.tieWordEmbeddings)
        #expect(c.layerTypes.indices.filter { c.isGlobal(layer: $0) } == [5])

        var other = GGUFWriter()
        other.add("general.architecture", .string("llama"))
        let e = #expect(throws: InputError.self) { try Gemma3Configuration(gguf: GGUFFile(data: other.serialized(), name: "llama.gguf")) }
        #expect(e?.field == "general.architecture")
        var incomplete = GGUFWriter()
        incomplete.add("general.architecture", .string("gemma3"))
        let e2 = #expect(throws: InputError.self) { try Gemma3Configuration(gguf: GGUFFile(data: incomplete.serialized(), name: "x.gguf")) }
        #expect(e2?.field == "gemma3.embedding_length")
    }

    @Test("sizes the model cannot be built with name config.json and the field")
    func unusableSizesNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gemma-sizes-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        for (json, field) in [(#"{"num_key_value_heads": 0}"#, "num_key_value_heads"), (#"{"head_dim": 255}"#, "head_dim"),
                              (#"{"num_attention_heads": 4, "num_key_value_heads": 3}"#, "num_key_value_heads")] {
            try Data(json.utf8).write(to: url)
            let e = #expect(throws: InputError.self) { try Gemma3Configuration.load(configJSON: url) }
            #expect(e?.file == url.path && e?.field == field, "\(json): \(String(describing: e))")
        }
        // The same check guards a configuration built in code.
        var c = Gemma3Configuration(); c.headCount = 0
        #expect(throws: InputError.self) { try c.checkSizes() }
    }

    @Test("built from the real GGUF file")
    func fromRealFile() throws {
        guard let url = TestPaths.realModel(for: "configuration from the real GGUF") else { return }
        let c = try Gemma3Configuration(gguf: GGUFFile(url: url))
        var expected = Gemma3Configuration()
        expected.rmsNormEpsilon = Double(Float(1e-6))  // stored as float32 in the file
        #expect(c == expected)
    }
}
