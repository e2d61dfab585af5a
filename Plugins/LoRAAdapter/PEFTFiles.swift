import BiomechCore
import Foundation
import NumericsEngine

/// The adapter files, laid out as Hugging Face PEFT writes them so Python users can load
/// them with `PeftModel.from_pretrained`:
///
/// - `adapter_model.safetensors` (F32):
///   - `base_model.model.<module>.lora_A.weight` `[r, in]` and `.lora_B.weight` `[out, r]`
///     for every adapted module (`<module>` = `model.layers.3.self_attn.q_proj`);
///   - when the vocabulary was extended, the added (motion) token rows as PEFT's trainable
///     tokens: `base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta`
///     `[n, hidden]` — despite its name PEFT stores the rows' values, not a difference.
///   - `__metadata__`: `format: pt` (PEFT's), `added_token_rows` (`start..<end`).
/// - `adapter_config.json`: `peft_type LORA`, `task_type CAUSAL_LM`, `r`, `lora_alpha`,
///   `lora_dropout`, `target_modules`, `base_model_name_or_path`, `bias none`, and
///   `trainable_token_indices: {"embed_tokens": [ids]}` for the added rows (PEFT ≥ 0.15;
///   the base model's embedding must first be resized to the extended vocabulary).
///
/// Both files are written atomically (temporary file, then rename).
public enum PEFTFiles {
    public static let weightsFile = "adapter_model.safetensors"
    public static let configFile = "adapter_config.json"
    public static let addedRowsTensor = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"

    /// The adapter's tensors by PEFT name (values, not copies).
    public static func tensors(of adapter: LoRAAdapter) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for p in adapter.projections {
            out[p.loraA.name] = p.loraA.value
            out[p.loraB.name] = p.loraB.value
        }
        if let rows = adapter.model?.addedTokenRows, !rows.rows.isEmpty {
            out[addedRowsTensor] = addedRows(rows.embedding, rows.rows)
        }
        return out
    }

    static func addedRows(_ embedding: Parameter, _ rows: Range<Int>) -> Tensor {
        let width = embedding.value.count / Swift.max(1, embedding.value.shape[0])
        let t = Tensor(shape: [rows.count, width])
        t.data.update(from: embedding.value.data + rows.lowerBound * width, count: rows.count * width)
        return t
    }

    /// `adapter_config.json` as a JSON object.
    public static func config(of adapter: LoRAAdapter) -> [String: Any] {
        let c = adapter.configuration
        let modules = Array(Set(adapter.projections.map { $0.name.split(separator: ".").last.map(String.init) ?? $0.name })).sorted()
        var config: [String: Any] = [
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "r": c.rank,
            "lora_alpha": c.alpha,
            "lora_dropout": c.dropout,
            "target_modules": modules.isEmpty ? c.targetModules : modules,
            "base_model_name_or_path": c.baseModelName,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "use_rslora": false,
            "use_dora": false,
            "modules_to_save": NSNull(),
            "layers_to_transform": NSNull(),
            "layers_pattern": NSNull(),
            "rank_pattern": [String: Any](),
            "alpha_pattern": [String: Any](),
            "revision": NSNull(),
        ]
        if let rows = adapter.model?.addedTokenRows, !rows.rows.isEmpty {
            config["trainable_token_indices"] = ["embed_tokens": Array(rows.rows)]
        }
        if !adapter.extraConfig.isEmpty { config["biomechgpt"] = adapter.extraConfig }
        return config
    }

    public static func write(_ adapter: LoRAAdapter, to directory: URL) throws {
        guard !adapter.projections.isEmpty else {
            throw InputError(file: directory.path, "the adapter is not attached to a model; nothing to save")
        }
        var metadata = ["format": "pt"]
        if let rows = adapter.model?.addedTokenRows { metadata["added_token_rows"] = "\(rows.rows.lowerBound)..<\(rows.rows.upperBound)" }
        try Safetensors.write(tensors(of: adapter), to: directory.appendingPathComponent(weightsFile), metadata: metadata)
        let json = try JSONSerialization.data(withJSONObject: config(of: adapter),
                                              options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(json, to: directory.appendingPathComponent(configFile))
    }

    /// Restores adapter (and added-row) values saved by `write` onto an attached adapter.
    /// The configuration's rank and targets must agree with the attached adapter.
    public static func read(into adapter: LoRAAdapter, from directory: URL) throws {
        guard !adapter.projections.isEmpty else {
            throw InputError(file: directory.path, "attach the adapter to a backbone before loading saved weights")
        }
        let configURL = directory.appendingPathComponent(configFile)
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw InputError(file: configURL.path, "adapter configuration not found")
        }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw InputError(file: configURL.path, "not a JSON object")
        }
        guard config["peft_type"] as? String == "LORA" else {
            throw InputError(file: configURL.path, field: "peft_type", "expected LORA, got \(config["peft_type"] ?? "nothing")")
        }
        if let r = config["r"] as? Int, r != adapter.configuration.rank {
            throw InputError(file: configURL.path, field: "r", "the saved adapter has rank \(r); the attached one has rank \(adapter.configuration.rank)")
        }
        let file = try SafetensorsFile(path: directory.appendingPathComponent(weightsFile).path)
        _ = try ParameterStore(adapter.projections.flatMap { [$0.loraA, $0.loraB] }).load(from: file)
        if let rows = adapter.model?.addedTokenRows, !rows.rows.isEmpty {
            guard file.entries[addedRowsTensor] != nil else {
                throw InputError(file: file.path, field: addedRowsTensor, "the backbone has added token rows but the saved adapter has none")
            }
            // The rows must sit where they were trained: the same base vocabulary.
            let here = "\(rows.rows.lowerBound)..<\(rows.rows.upperBound)"
            if let saved = file.metadata["added_token_rows"], saved != here {
                throw InputError(file: file.path, field: "added_token_rows",
                                 "the adapter was trained with added rows \(saved); this backbone's are \(here) (another base vocabulary?)")
            }
            let t = try file.tensor(addedRowsTensor)
            let width = rows.embedding.value.lastDimension
            guard t.shape == [rows.rows.count, width] else {
                throw InputError(file: file.path, field: addedRowsTensor, "tensor has shape \(t.shape), expected \([rows.rows.count, width])")
            }
            (rows.embedding.value.data + rows.rows.lowerBound * width).update(from: t.data, count: t.count)
        }
    }
}
