import BiomechCore
import NumericsEngine

/// One Gemma 3 decoder layer, written out llm.c style: `forward` keeps what `backward`
/// needs (every sub-layer owns its output), `backward` walks the same steps in reverse.
///
///     a  = input_layernorm(x)
///     q  = rope(q_norm(q_proj a)),  k = rope(k_norm(k_proj a)),  v = v_proj a
///     h  = x + post_attention_layernorm(o_proj(attention(q, k, v)))
///     f  = pre_feedforward_layernorm(h)
///     y  = h + post_feedforward_layernorm(down_proj(gelu_tanh(gate_proj f) ⊙ up_proj f))
///
/// The seven projections are `Projection`s that an adapter may replace (see
/// ``Gemma3Model/replaceProjection(_:with:)``).
public final class Gemma3DecoderLayer {
    public let index: Int
    public let isGlobal: Bool
    public let prefix: String

    public internal(set) var qProj: any Projection
    public internal(set) var kProj: any Projection
    public internal(set) var vProj: any Projection
    public internal(set) var oProj: any Projection
    public internal(set) var gateProj: any Projection
    public internal(set) var upProj: any Projection
    public internal(set) var downProj: any Projection

    public let inputNorm: RMSNorm
    public let postAttentionNorm: RMSNorm
    public let preFeedforwardNorm: RMSNorm
    public let postFeedforwardNorm: RMSNorm
    public let qNorm: RMSNorm
    public let kNorm: RMSNorm

    let rope: RotaryEmbedding
    let attention: CausalAttention
    let mlp = GatedGELU()
    let queryHeads: Int, kvHeads: Int, headDim: Int
    let slidingWindow: Int?
    let scale: Float

    private var positions: [Int] = []
    private var middle: Tensor?, output: Tensor?
    private var gradBranch: Tensor?
    private var cachedOutput: Tensor?

    /// The dense projections as loaded, kept here because an adapter may wrap them (their
    /// product settings: precision, decoding from GGUF blocks).
    private(set) var denseProjections: [Linear] = []

    /// The names of the projections, in PEFT / Hugging Face module order.
    public static let projectionKeys = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]

    init(index: Int, configuration c: Gemma3Configuration, weights: any Gemma3WeightSource,
         rope: RotaryEmbedding, projectionBuilder: ProjectionBuilder? = nil) throws {
        self.index = index
        isGlobal = c.isGlobal(layer: index)
        prefix = "model.layers.\(index)."
        queryHeads = c.headCount; kvHeads = c.kvHeadCount; headDim = c.headDimension
        slidingWindow = isGlobal ? nil : c.slidingWindow
        scale = Float(c.attentionScale)
        let d = c.hiddenSize, qw = c.headCount * c.headDimension, kw = c.kvHeadCount * c.headDimension
        let p = prefix
        func linear(_ key: String, _ out: Int, _ inp: Int) throws -> any Projection {
            let w = try weights.tensor(p + key + ".weight", shape: [out, inp])
            if let projectionBuilder {
                let built = try projectionBuilder(p + key, w)
                guard built.outFeatures == out, built.inFeatures == inp else {
                    throw InputError(field: p + key, "the projection builder made a \(built.outFeatures)×\(built.inFeatures) projection, expected \(out)×\(inp)")
                }
                return built
            }
            let linear = Linear(weight: Parameter(name: p + key + ".weight", value: w, isTrainable: false))
            linear.singleRowProduct = weights.singleRowProduct(p + key + ".weight", shape: [out, inp])
            return linear
        }
        func norm(_ key: String, _ dim: Int) throws -> RMSNorm {
            let w = try weights.tensor(p + key + ".weight", shape: [dim])
            return RMSNorm(weight: Parameter(name: p + key + ".weight", value: w, isTrainable: false),
                           epsilon: Float(c.rmsNormEpsilon), weightOffset: weights.normWeightOffset)
        }
        qProj = try linear("self_attn.q_proj", qw, d)
        kProj = try linear("self_attn.k_proj", kw, d)
        vProj = try linear("self_attn.v_proj", kw, d)
        oProj = try linear("self_attn.o_proj", d, qw)
        gateProj = try linear("mlp.gate_proj", c.intermediateSize, d)
        upProj = try linear("mlp.up_proj", c.intermediateSize, d)
        downProj = try linear("mlp.down_proj", d, c.intermediateSize)
        inputNorm = try norm("input_layernorm", d)
        postAttentionNorm = try norm("post_attention_layernorm", d)
        preFeedforwardNorm = try norm("pre_feedforward_layernorm", d)
        postFeedforwardNorm = try norm("post_feedforward_layernorm", d)
        qNorm = try norm("self_attn.q_norm", c.headDimension)
        kNorm = try norm("self_attn.k_norm", c.headDimension)
        denseProjections = [qProj, kProj, vProj, oProj, gateProj, upProj, downProj].compactMap { $0 as? Linear }
        self.rope = rope
        attention = CausalAttention(queryHeads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDimension,
                                    scale: scale, slidingWindow: slidingWindow)
    }

    /// The projection for a key of ``projectionKeys``.
    func projection(_ key: String) -> (any Projection)? {
        switch key {
        case "self_attn.q_proj": return qProj
        case "self_attn.k_proj": return kProj
        case "self_attn.v_proj": return vProj
        case "self_attn.o_proj": return oProj
        case "mlp.gate_proj": return gateProj
        case "mlp.up_proj": return upProj
        case "mlp.down_proj": return downProj
        default: return nil
        }
    }

    func setProjection(_ key: String, _ p: any Projection) {
        switch key {
        case "self_attn.q_proj": qProj = p
        case "self_attn.k_proj": kProj = p
        case "self_attn.v_proj": vProj = p
        case "self_attn.o_proj": oProj = p
        case "mlp.gate_proj": gateProj = p
        case "mlp.up_proj": upProj = p
        case "mlp.down_proj": downProj = p
        default: preconditionFailure("unknown projection \(key)")
        }
    }

    var parameters: [Parameter] {
        [qProj, kProj, vProj, oProj, gateProj, upProj, downProj].flatMap(\.parameters)
            + [inputNorm, postAttentionNorm, preFeedforwardNorm, postFeedforwardNorm, qNorm, kNorm].flatMap(\.parameters)
    }

    /// The batched forward over `[batch · T, hidden]` (see ``Gemma3Batch`` for the layout).
    /// With a `cache`, attention reads and extends the layer's key/value cache instead
    /// (one sequence; `positions` are the new tokens' positions, or several continuations of
    /// the cached prefix, see ``Gemma3KVCache/LayerCache/appendAndAttend``); such a call
    /// cannot be followed by `backward`.
    func forward(_ x: Tensor, batch: Int, positions: [Int], keyMask: [Bool]?, cache: Gemma3KVCache.LayerCache? = nil) -> Tensor {
        self.positions = positions
        let a = inputNorm.forward(x)
        let q = qProj.forward(a), k = kProj.forward(a), v = vProj.forward(a)
        let qn = qNorm.forward(q), kn = kNorm.forward(k)
        rope.apply(qn, heads: queryHeads, positions: positions)
        rope.apply(kn, heads: kvHeads, positions: positions)
        let o: Tensor
        if let cache {
            let out = Tensor.reuse(cachedOutput, shape: qn.shape); cachedOutput = out
            cache.appendAndAttend(keys: kn, values: v, queries: qn, positions: positions, queryHeads: queryHeads, scale: scale, into: out)
            o = out
        } else {
            o = attention.forward(q: qn, k: kn, v: v, batch: batch, keyMask: keyMask)
        }
        let ao = oProj.forward(o)
        let pa = postAttentionNorm.forward(ao)
        let h = Tensor.reuse(middle, shape: x.shape); middle = h
        Elementwise.add(x, pa, into: h)
        let f = preFeedforwardNorm.forward(h)
        let g = gateProj.forward(f), u = upProj.forward(f)
        let m = mlp.forward(gate: g, up: u)
        let dn = downProj.forward(m)
        let pf = postFeedforwardNorm.forward(dn)
        let y = Tensor.reuse(output, shape: x.shape); output = y
        Elementwise.add(h, pf, into: y)
        return y
    }

    /// Backward of the last (uncached) `forward`: `grad` holds dL/dy on entry and is turned
    /// into dL/dx in place. Trainable parameters of the projections accumulate gradients.
    func backward(_ grad: Tensor) {
        let dDown = postFeedforwardNorm.backward(grad)
        let dm = downProj.backward(dDown)!
        let (dg, du) = mlp.backward(dm)
        let df = sum([gateProj.backward(dg), upProj.backward(du)], shape: grad.shape)
        Elementwise.addInPlace(grad, preFeedforwardNorm.backward(df))
        let dao = postAttentionNorm.backward(grad)
        let dO = oProj.backward(dao)!
        let (dq, dk, dv) = attention.backward(dO)
        rope.applyBackward(dq, heads: queryHeads, positions: positions)
        rope.applyBackward(dk, heads: kvHeads, positions: positions)
        let dqi = qNorm.backward(dq), dki = kNorm.backward(dk)
        let da = sum([qProj.backward(dqi), kProj.backward(dki), vProj.backward(dv)], shape: grad.shape)
        Elementwise.addInPlace(grad, inputNorm.backward(da))
    }

    /// The sum of branch input gradients into the layer's buffer (nil = no contribution).
    private func sum(_ parts: [Tensor?], shape: [Int]) -> Tensor {
        let s = Tensor.reuse(gradBranch, shape: shape); gradBranch = s
        var first = true
        for case let p? in parts {
            if first { s.copy(from: p); first = false } else { Elementwise.addInPlace(s, p) }
        }
        if first { s.zero() }
        return s
    }
}
