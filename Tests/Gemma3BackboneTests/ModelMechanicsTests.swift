import BiomechCore
import Foundation
import NumericsEngine
import Testing
@testable import Gemma3Backbone

/// A tiny Gemma 3: hidden 16, 2 layers (layer 1 global), 2 query heads / 1 KV head of 8,
/// MLP 32, vocabulary 50, sliding window 4.
func tinyConfiguration(vocabulary: Int = 50) -> Gemma3Configuration {
    var c = Gemma3Configuration()
    c.hiddenSize = 16; c.layerCount = 2; c.headCount = 2; c.kvHeadCount = 1; c.headDimension = 8
    c.intermediateSize = 32; c.vocabularySize = vocabulary; c.slidingWindow = 4; c.slidingWindowPattern = 2
    c.queryPreAttentionScalar = 8
    c.layerTypes = Gemma3Configuration.layerTypes(count: 2, pattern: 2)
    c.ropeTheta = 10_000; c.ropeLocalTheta = 100
    return c
}

func tinyModel(seed: UInt64 = 1, std: Float = 0.3) throws -> Gemma3Model {
    try Gemma3Model(configuration: tinyConfiguration(), weights: RandomWeights(seed: seed, std: std, normJitter: 0.2))
}

/// A LoRA-shaped wrapper for the tests: `y = base(x) + B(A(x))`.
final class TestLowRank: Projection {
    let base: any Projection
    let a: Linear, b: Linear
    var computeInputGradient = true
    private var out: Tensor?, dx: Tensor?
    init(base: any Projection, rank: Int, rng: inout SeededRandom) {
        self.base = base
        a = Linear(name: "lora_A", inFeatures: base.inFeatures, outFeatures: rank, bias: false, rng: &rng)
        b = Linear(name: "lora_B", inFeatures: rank, outFeatures: base.outFeatures, bias: false, rng: &rng)
    }
    var inFeatures: Int { base.inFeatures }
    var outFeatures: Int { base.outFeatures }
    var parameters: [Parameter] { base.parameters + a.parameters + b.parameters }
    func forward(_ x: Tensor) -> Tensor {
        let y0 = base.forward(x)
        let y1 = b.forward(a.forward(x))
        let y = Tensor.reuse(out, shape: y0.shape); out = y
        Elementwise.add(y0, y1, into: y)
        return y
    }
    func backward(_ g: Tensor) -> Tensor? {
        let d0 = base.backward(g)!
        let d1 = a.backward(b.backward(g)!)!
        let d = Tensor.reuse(dx, shape: d0.shape); dx = d
        Elementwise.add(d0, d1, into: d)
        return d
    }
}

@Suite("Gemma 3 model mechanics (tiny random configuration)")
struct ModelMechanicsTests {
    /// Pre-fills `tokens[..<prompt]` into a cache made by `makeCache`, decodes the rest one
    /// token at a time, and expects every position's logits to equal the full forward's.
    func expectCachedLogitsMatchFullForward(tokenCount: Int, prompt: Int, seed: UInt64,
                                            makeCache: (Gemma3Model) -> Gemma3KVCache) throws {
        let model = try tinyModel()
        var rng = SeededRandom(seed: seed)
        let tokens = (0..<tokenCount).map { _ in rng.nextInt(below: 50) }
        model.forward(Gemma3Batch([tokens]))
        let full = model.logits(rows: Array(0..<tokens.count)).scalars
        let v = model.vocabularySize
        let cache = makeCache(model)
        var rows = [model.logits(rows: [0], hidden: model.prefill(Array(tokens[0..<prompt]), cache: cache)).scalars]
        for t in prompt..<tokens.count { rows.append(model.decode(tokens[t], cache: cache).scalars) }
        for (i, row) in rows.enumerated() {
            let position = prompt - 1 + i
            var worst: Float = 0
            for j in 0..<v { worst = max(worst, abs(row[j] - full[position * v + j])) }
            #expect(worst < 1e-4, "position \(position): max difference \(worst)")
        }
    }

    @Test("KV-cache pre-fill and decoding give the full forward's logits")
    func kvCache() throws {
        // Chunk 3 with window 4: the sliding layer's ring (7 slots) wraps several times.
        try expectCachedLogitsMatchFullForward(tokenCount: 16, prompt: 7, seed: 3) {
            Gemma3KVCache(configuration: $0.configuration, maxLength: 16, chunk: 3)
        }
    }

    @Test("a long prompt pre-filled in one chunk (query blocks that skip later keys) gives the full forward's logits")
    func longPromptPrefill() throws {
        try expectCachedLogitsMatchFullForward(tokenCount: 150, prompt: 140, seed: 4) {
            Gemma3KVCache(configuration: $0.configuration, maxLength: 150)
        }
    }

    @Test("a batched padded forward equals each sequence alone (left and right padding)")
    func batchedPadding() throws {
        let model = try tinyModel()
        var rng = SeededRandom(seed: 4)
        let seqs = [9, 4, 7].map { n in (0..<n).map { _ in rng.nextInt(below: 50) } }
        var alone: [[Float]] = []
        for s in seqs {
            model.forward(Gemma3Batch([s]))
            alone.append(model.logits(rows: Array(0..<s.count)).scalars)
        }
        let v = model.vocabularySize
        for padding in [Gemma3Batch.Padding.left, .right] {
            let batch = Gemma3Batch(seqs, padding: padding)
            model.forward(batch)
            for (b, s) in seqs.enumerated() {
                let logits = model.logits(rows: (0..<s.count).map { batch.row(sequence: b, index: $0) })
                var worst: Float = 0
                for j in 0..<(s.count * v) { worst = max(worst, abs(logits.data[j] - alone[b][j])) }
                #expect(worst < 1e-5, "\(padding) padding, sequence \(b): \(worst)")
            }
        }
    }

    @Test("the backward matches central finite differences (adapters, embedding rows, input vectors)")
    func finiteDifferences() throws {
        let model = try tinyModel()
        model.freezeAll()
        var rng = SeededRandom(seed: 5)
        // LoRA-like wrappers on an attention and an MLP projection of each layer type.
        var checked: [Parameter] = []
        for name in ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj",
                     "model.layers.0.mlp.down_proj", "model.layers.1.mlp.gate_proj"] {
            let wrapper = TestLowRank(base: model.projection(named: name)!, rank: 2, rng: &rng)
            try model.replaceProjection(name, with: wrapper)
            checked += [wrapper.a.weight, wrapper.b.weight]
        }
        // A base weight made trainable, and the last 5 embedding rows (tied LM head).
        let kWeight = model.projection(named: "model.layers.1.self_attn.k_proj")!.parameters[0]
        kWeight.unfreeze()
        checked.append(kWeight)
        model.setTrainableEmbeddingRows(45..<50)
        checked.append(model.embeddingWeight)

        let tokens = [[2, 45, 7, 13, 47, 21, 9, 46, 30, 11], [2, 49, 3, 48, 17, 45]]
        let mask = tokens.map { s in s.indices.map { $0 % 3 != 1 } }
        let vectorRows = [2, 10 + 4]  // token 2 of sequence 0, token 4 of sequence 1 (right padded, T = 10)
        let vectorValues = Tensor.randomNormal(shape: [2, 16], std: 1, using: &rng)
        let vectors = Gemma3InputVectors(rows: vectorRows, values: vectorValues)

        for p in model.parameters { p.zeroGrad() }
        _ = model.trainingStep(tokens: tokens, lossMask: mask, vectors: vectors)
        let vectorGrad = model.inputVectorGradient!.clone()
        let loss = { () -> Double in model.loss(tokens: tokens, lossMask: mask, vectors: vectors).loss }

        func check(_ label: String, value: UnsafeMutablePointer<Float>, analytic: [Float], indices: [Int]) {
            let eps: Float = 1e-2
            let maxAnalytic = analytic.map { abs($0) }.max() ?? 0
            #expect(maxAnalytic > 1e-4, "\(label): the gradient is zero")
            for (k, i) in indices.enumerated() {
                let old = value[i]
                value[i] = old + eps; let lp = loss()
                value[i] = old - eps; let lm = loss()
                value[i] = old
                let numeric = Float((lp - lm) / Double(2 * eps))
                #expect(abs(numeric - analytic[k]) <= 2e-3 + 1e-2 * maxAnalytic,
                        "\(label)[\(i)]: numeric \(numeric), analytic \(analytic[k])")
            }
        }
        for p in checked {
            let g = p.grad!
            var picks = SeededRandom(seed: 9).derived(p.name)
            let n = g.count
            let indices = (0..<6).map { _ in picks.nextInt(below: n) }
            let offset = p.gradRowOffset * p.value.lastDimension
            check(p.name, value: p.value.data + offset, analytic: indices.map { g.data[$0] }, indices: indices)
        }
        check("input vectors", value: vectorValues.data, analytic: (0..<32).map { vectorGrad.data[$0] }, indices: Array(0..<32))
    }

    @Test("extending the vocabulary grows the embedding and the logits")
    func extendVocabulary() throws {
        let model = try tinyModel()
        let before = model.embeddingWeight.value.clone()
        let ids = model.extendVocabulary(by: 3, seed: 1)
        #expect(ids == 50..<53)
        #expect(model.vocabularySize == 53)
        // Old rows kept; new rows near the mean row.
        for i in 0..<before.count { #expect(model.embeddingWeight.value.data[i] == before.data[i]) }
        model.forward(Gemma3Batch([[1, 51, 52, 50]]))
        #expect(model.logits(rows: [3]).count == 53)
    }

    @Test("the plugin builds a random configuration without a model file and generates")
    func pluginWithoutFile() throws {
        let backbone = try Gemma3LanguageBackbone.make(PluginParameters(
            ["config": "tiny", "model": "/nonexistent/model.gguf", "seed": "3", "context_length": "64"]))
        let prompt = backbone.chatPrompt([ChatTurn(.user, "hi")], openModelTurn: true)
        let ids = backbone.textTokenizer.encode(prompt, addBOS: false)
        #expect(backbone.textTokenizer.decode(ids) == prompt)
        let range = try backbone.extendVocabulary(with: ["<motion_0>", "<motion_1>"])
        #expect(range == 357..<359)
        #expect(backbone.textTokenizer.encode("a<motion_1>", addBOS: false).last == 358)
        #expect(try backbone.logits(for: BackboneInput(tokens: ids + [358])).count == 359)
        let out = try backbone.generate(BackboneInput(tokens: ids), options: .init(maxNewTokens: 5)) { _ in true }
        #expect(!out.isEmpty && out.count <= 5)
        #expect(throws: InputError.self) { try backbone.logits(for: BackboneInput(tokens: Array(repeating: 5, count: 65))) }
    }

    @Test("'vocabulary: byte-level' takes the stand-in even with a model file, and only with a random configuration")
    func byteLevelVocabulary() throws {
        // The default model path (models/…) may or may not exist here: either way the stand-in.
        let backbone = try Gemma3LanguageBackbone.make(PluginParameters(["config": "tiny", "vocabulary": "byte-level"]))
        #expect(backbone.model.vocabularySize == 357)
        let refused = #expect(throws: InputError.self) {
            try Gemma3LanguageBackbone.make(PluginParameters(["vocabulary": "byte-level"]))
        }
        #expect(refused?.field == "backbone.vocabulary")
        #expect(throws: InputError.self) { try Gemma3LanguageBackbone.make(PluginParameters(["config": "tiny", "vocabulary": "words"])) }
    }
}
