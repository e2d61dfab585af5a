import BiomechCore
import Foundation
import GGUF

/// The hyperparameters of a Gemma 3 text model.
///
/// Decodes a Hugging Face `config.json` (a text config, or a multimodal config with a nested
/// `text_config`), taking defaults for absent fields, and is built from the `gemma3.*`
/// metadata of a GGUF file. Defaults are those of Gemma 3 270M.
public struct Gemma3Configuration: Codable, Sendable, Equatable {
    public enum LayerType: String, Codable, Sendable {
        case slidingAttention = "sliding_attention"
        case fullAttention = "full_attention"
    }

    public var hiddenSize: Int = 640
    public var layerCount: Int = 18
    public var headCount: Int = 4
    public var kvHeadCount: Int = 1
    public var headDimension: Int = 256
    public var intermediateSize: Int = 2048
    public var vocabularySize: Int = 262_144
    public var rmsNormEpsilon: Double = 1e-6
    /// RoPE base of the global (full-attention) layers.
    public var ropeTheta: Double = 1_000_000
    /// RoPE base of the local (sliding-window) layers.
    public var ropeLocalTheta: Double = 10_000
    /// Linear RoPE scaling factor of the global layers (1 when unscaled; 8 for the 4B+ models).
    public var ropeScalingFactor: Double = 1
    public var slidingWindow: Int = 512
    /// Every n-th layer is global (6: layers 5, 11, 17, ...). Used when `layerTypes` is not given.
    public var slidingWindowPattern: Int = 6
    /// The attention type of each layer.
    public var layerTypes: [LayerType] = Gemma3Configuration.layerTypes(count: 18, pattern: 6)
    /// Queries are scaled by `queryPreAttentionScalar^-0.5` (256 for 270M).
    public var queryPreAttentionScalar: Double = 256
    public var maxPositionEmbeddings: Int = 32_768
    public var finalLogitSoftcapping: Double? = nil
    public var attentionLogitSoftcapping: Double? = nil
    public var hiddenActivation: String = "gelu_pytorch_tanh"
    public var tieWordEmbeddings: Bool = true
    public var bosTokenID: Int = 2
    public var eosTokenIDs: [Int] = [1]
    public var padTokenID: Int = 0

    public init() {}

    /// The scale applied to attention scores.
    public var attentionScale: Double { 1 / queryPreAttentionScalar.squareRoot() }
    /// Token embeddings are multiplied by `sqrt(hiddenSize)`.
    public var embeddingScale: Double { Double(hiddenSize).squareRoot() }
    public func isGlobal(layer: Int) -> Bool { layerTypes.indices.contains(layer) && layerTypes[layer] == .fullAttention }

    /// Layer types for `count` layers where every `pattern`-th layer is global.
    public static func layerTypes(count: Int, pattern: Int) -> [LayerType] {
        (0..<count).map { pattern > 0 && ($0 + 1) % pattern == 0 ? .fullAttention : .slidingAttention }
    }

    // MARK: Hugging Face config.json

    private enum HFKeys: String, CodingKey {
        case textConfig = "text_config"
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case kvHeadCount = "num_key_value_heads"
        case headDimension = "head_dim"
        case intermediateSize = "intermediate_size"
        case vocabularySize = "vocab_size"
        case rmsNormEpsilon = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeLocalTheta = "rope_local_base_freq"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case slidingWindow = "sliding_window"
        case slidingWindowPattern = "sliding_window_pattern"
        case privateSlidingWindowPattern = "_sliding_window_pattern"
        case layerTypes = "layer_types"
        case queryPreAttentionScalar = "query_pre_attn_scalar"
        case maxPositionEmbeddings = "max_position_embeddings"
        case finalLogitSoftcapping = "final_logit_softcapping"
        case attentionLogitSoftcapping = "attn_logit_softcapping"
        case hiddenActivation = "hidden_activation"
        case tieWordEmbeddings = "tie_word_embeddings"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case padTokenID = "pad_token_id"
    }

    private struct RopeScaling: Decodable {
        var factor: Double?
        var rope_type: String?
        var type: String?
        var rope_theta: Double?
    }

    /// One integer or a list of integers (`eos_token_id` is either).
    private enum IntOrList: Decodable {
        case one(Int), many([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Int.self) { self = .one(v) } else { self = .many(try c.decode([Int].self)) }
        }
        var values: [Int] { switch self { case .one(let v): return [v]; case .many(let v): return v } }
    }

    public init(from decoder: Decoder) throws {
        let outer = try decoder.container(keyedBy: HFKeys.self)
        let c = outer.contains(.textConfig) ? try outer.nestedContainer(keyedBy: HFKeys.self, forKey: .textConfig) : outer
        let d = Gemma3Configuration()
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        layerCount = try c.decodeIfPresent(Int.self, forKey: .layerCount) ?? d.layerCount
        headCount = try c.decodeIfPresent(Int.self, forKey: .headCount) ?? d.headCount
        kvHeadCount = try c.decodeIfPresent(Int.self, forKey: .kvHeadCount) ?? d.kvHeadCount
        headDimension = try c.decodeIfPresent(Int.self, forKey: .headDimension) ?? d.headDimension
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocabularySize) ?? d.vocabularySize
        rmsNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .rmsNormEpsilon) ?? d.rmsNormEpsilon
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
        ropeLocalTheta = try c.decodeIfPresent(Double.self, forKey: .ropeLocalTheta) ?? d.ropeLocalTheta
        if let scaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling), let factor = scaling.factor {
            ropeScalingFactor = factor
        }
        // Newer transformers: per-layer-type RoPE parameters.
        if let parameters = try c.decodeIfPresent([String: RopeScaling].self, forKey: .ropeParameters) {
            if let full = parameters[LayerType.fullAttention.rawValue] {
                if let theta = full.rope_theta { ropeTheta = theta }
                if let factor = full.factor { ropeScalingFactor = factor }
            }
            if let local = parameters[LayerType.slidingAttention.rawValue], let theta = local.rope_theta {
                ropeLocalTheta = theta
            }
        }
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow) ?? d.slidingWindow
        slidingWindowPattern = try c.decodeIfPresent(Int.self, forKey: .slidingWindowPattern)
            ?? c.decodeIfPresent(Int.self, forKey: .privateSlidingWindowPattern) ?? d.slidingWindowPattern
        if let types = try c.decodeIfPresent([LayerType].self, forKey: .layerTypes) {
            guard types.count == layerCount else {
                throw DecodingError.dataCorruptedError(
                    forKey: .layerTypes, in: c,
                    debugDescription: "layer_types has \(types.count) entries; expected one per layer (\(layerCount))")
            }
            layerTypes = types
        } else {
            layerTypes = Self.layerTypes(count: Swift.max(0, layerCount), pattern: slidingWindowPattern)
        }
        queryPreAttentionScalar = try c.decodeIfPresent(Double.self, forKey: .queryPreAttentionScalar)
            ?? Double(headDimension)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        finalLogitSoftcapping = try c.decodeIfPresent(Double.self, forKey: .finalLogitSoftcapping)
        attentionLogitSoftcapping = try c.decodeIfPresent(Double.self, forKey: .attentionLogitSoftcapping)
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? d.hiddenActivation
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
            ?? outer.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? d.tieWordEmbeddings
        bosTokenID = try c.decodeIfPresent(Int.self, forKey: .bosTokenID) ?? d.bosTokenID
        eosTokenIDs = try c.decodeIfPresent(IntOrList.self, forKey: .eosTokenID)?.values ?? d.eosTokenIDs
        padTokenID = try c.decodeIfPresent(Int.self, forKey: .padTokenID) ?? d.padTokenID
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: HFKeys.self)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(kvHeadCount, forKey: .kvHeadCount)
        try c.encode(headDimension, forKey: .headDimension)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(rmsNormEpsilon, forKey: .rmsNormEpsilon)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(ropeLocalTheta, forKey: .ropeLocalTheta)
        if ropeScalingFactor != 1 {
            struct Scaling: Encodable { var factor: Double; var rope_type = "linear" }
            try c.encode(Scaling(factor: ropeScalingFactor), forKey: .ropeScaling)
        }
        try c.encode(slidingWindow, forKey: .slidingWindow)
        try c.encode(slidingWindowPattern, forKey: .slidingWindowPattern)
        try c.encode(layerTypes, forKey: .layerTypes)
        try c.encode(queryPreAttentionScalar, forKey: .queryPreAttentionScalar)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encodeIfPresent(finalLogitSoftcapping, forKey: .finalLogitSoftcapping)
        try c.encodeIfPresent(attentionLogitSoftcapping, forKey: .attentionLogitSoftcapping)
        try c.encode(hiddenActivation, forKey: .hiddenActivation)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenIDs, forKey: .eosTokenID)
        try c.encode(padTokenID, forKey: .padTokenID)
    }

    /// Decodes a `config.json`; errors name the file and the field.
    public static func load(configJSON url: URL) throws -> Gemma3Configuration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, "cannot read the model configuration: \(error.localizedDescription)")
        }
        let configuration: Gemma3Configuration
        do {
            configuration = try JSONDecoder().decode(Gemma3Configuration.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw InputError(file: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."),
                             context.debugDescription)
        } catch {
            throw InputError(file: url.path, "not a valid model configuration: \(error)")
        }
        try configuration.checkSizes(file: url.path)
        return configuration
    }

    /// Sizes the model can be built with: every count at least 1, an even head dimension (RoPE
    /// rotates pairs), query heads a multiple of the KV heads. Errors name `file` when given.
    public func checkSizes(file: String? = nil) throws {
        for (value, field) in [(hiddenSize, "hidden_size"), (layerCount, "num_hidden_layers"), (headCount, "num_attention_heads"),
                               (kvHeadCount, "num_key_value_heads"), (headDimension, "head_dim"),
                               (intermediateSize, "intermediate_size"), (vocabularySize, "vocab_size"),
                               (slidingWindow, "sliding_window")] where value < 1 {
            throw InputError(file: file, field: field, "expected at least 1, got \(value)")
        }
        guard headDimension % 2 == 0 else {
            throw InputError(file: file, field: "head_dim", "rotary embeddings need an even head dimension, got \(headDimension)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw InputError(file: file, field: "num_key_value_heads", "\(headCount) query heads are not a multiple of \(kvHeadCount) KV heads")
        }
    }

    // MARK: GGUF metadata

    /// Builds the configuration from a GGUF file's `{architecture}.*` metadata.
    ///
    /// The file does not record the local RoPE base, the layer pattern or the query scalar:
    /// those keep Gemma 3's values (10000, every 6th layer global, the head dimension).
    public init(gguf file: GGUFFile) throws {
        let m = file.metadata
        let arch = try m.string("general.architecture") ?? "gemma3"
        guard arch == "gemma3" || arch == "gemma3_text" else {
            throw InputError(file: file.path, field: "general.architecture",
                             "the file holds a '\(arch)' model; expected a Gemma 3 model", allowed: ["gemma3"])
        }
        let p = "gemma3."
        self.init()
        hiddenSize = try m.requireInt(p + "embedding_length")
        layerCount = try m.requireInt(p + "block_count")
        intermediateSize = try m.requireInt(p + "feed_forward_length")
        headCount = try m.requireInt(p + "attention.head_count")
        guard headCount > 0 else { throw InputError(file: file.path, field: p + "attention.head_count", "expected at least 1 head") }
        kvHeadCount = try m.int(p + "attention.head_count_kv") ?? headCount
        headDimension = try m.int(p + "attention.key_length") ?? hiddenSize / headCount
        if let valueLength = try m.int(p + "attention.value_length"), valueLength != headDimension {
            throw InputError(file: file.path, field: p + "attention.value_length",
                             "value length \(valueLength) differs from key length \(headDimension); Gemma 3 uses one head dimension")
        }
        rmsNormEpsilon = Double(try m.float(p + "attention.layer_norm_rms_epsilon") ?? 1e-6)
        ropeTheta = try m.double(p + "rope.freq_base") ?? ropeTheta
        if let factor = try m.double(p + "rope.scaling.factor") { ropeScalingFactor = factor }
        slidingWindow = try m.int(p + "attention.sliding_window") ?? slidingWindow
        maxPositionEmbeddings = try m.int(p + "context_length") ?? maxPositionEmbeddings
        finalLogitSoftcapping = try m.double(p + "final_logit_softcapping")
        attentionLogitSoftcapping = try m.double(p + "attn_logit_softcapping")
        queryPreAttentionScalar = Double(headDimension)
        layerTypes = Self.layerTypes(count: Swift.max(0, layerCount), pattern: slidingWindowPattern)
        vocabularySize = try m.strings("tokenizer.ggml.tokens")?.count ?? vocabularySize
        bosTokenID = try m.int("tokenizer.ggml.bos_token_id") ?? bosTokenID
        if let eos = try m.int("tokenizer.ggml.eos_token_id") { eosTokenIDs = [eos] }
        padTokenID = try m.int("tokenizer.ggml.padding_token_id") ?? padTokenID
        tieWordEmbeddings = !file.hasTensor("output.weight")
        try checkSizes(file: file.path)
    }
}
