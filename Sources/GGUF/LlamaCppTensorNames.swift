/// llama.cpp's tensor names for the Hugging Face names of a Gemma/LLaMA text model:
/// `model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`.
public enum LlamaCppTensorNames {
    static let blockTensors: [String: String] = [
        "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
        "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
        "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "post_attention_norm.weight",
        "pre_feedforward_layernorm.weight": "ffn_norm.weight", "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    ]

    /// The GGUF name of a Hugging Face tensor name, or nil when there is none.
    public static func ggufName(_ hf: String) -> String? {
        if hf == "model.embed_tokens.weight" { return "token_embd.weight" }
        if hf == "model.norm.weight" { return "output_norm.weight" }
        let parts = hf.split(separator: ".").map(String.init)
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        return blockTensors[parts[3...].joined(separator: ".")].map { "blk.\(layer).\($0)" }
    }

    /// The GGUF tensor holding the weight of a projection named as PEFT names it
    /// (`model.layers.3.self_attn.q_proj`).
    public static func weightName(forProjection name: String) -> String? { ggufName(name + ".weight") }
}

/// A model loaded from a GGUF file that says which file, so QLoRA can keep the base
/// weights in that file's blocks instead of opening another.
public protocol GGUFBackedModel: AnyObject {
    var ggufFile: GGUFFile? { get }
}
