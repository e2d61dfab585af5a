import BiomechCore
import Foundation
import NumericsEngine

/// LoRA settings (recipe section `adapter:` with `id: lora`).
public struct LoRAConfiguration: Sendable, Codable, Equatable {
    /// The seven linear projections of a Gemma/LLaMA block: the QLoRA paper adapted all
    /// linear layers, and found that necessary to match full fine-tuning.
    public static let allProjections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public var rank: Int = 32
    public var alpha: Double = 32
    public var dropout: Double = 0.1
    public var targetModules: [String] = allProjections
    public var seed: UInt64 = 0
    /// Written to `adapter_config.json` as `base_model_name_or_path`.
    public var baseModelName: String = "google/gemma-3-270m-it"

    public init(rank: Int = 32, alpha: Double = 32, dropout: Double = 0.1, targetModules: [String] = allProjections,
                seed: UInt64 = 0, baseModelName: String = "google/gemma-3-270m-it") {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targetModules = targetModules
        self.seed = seed; self.baseModelName = baseModelName
    }

    public static let parameterSpecs: [ParameterSpec] = [
        ParameterSpec("rank", "int", default: "32", "LoRA rank r"),
        ParameterSpec("alpha", "double", default: "32", "LoRA alpha; the update is scaled by alpha/rank"),
        ParameterSpec("dropout", "double", default: "0.1", "dropout on the adapter input while training"),
        ParameterSpec("target_modules", "[string]", default: "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]",
                      "projections to adapt, matched against the last component of the module name"),
        ParameterSpec("seed", "int", default: "0", "seed for the A initialisation and the dropout masks"),
        ParameterSpec("base_model", "string", default: "google/gemma-3-270m-it",
                      "base_model_name_or_path written to adapter_config.json"),
    ]

    /// Reads the recipe parameters, checking ranges.
    public init(_ parameters: PluginParameters) throws {
        rank = try parameters.positiveInt("rank", default: 32)
        alpha = try parameters.double("alpha", default: 32)
        guard alpha > 0 else { throw parameters.error("alpha", "expected a positive number, got \(alpha)") }
        dropout = try parameters.double("dropout", default: 0.1)
        guard dropout >= 0 && dropout < 1 else { throw parameters.error("dropout", "expected a probability in [0, 1), got \(dropout)") }
        targetModules = try parameters.strings("target_modules", default: Self.allProjections)
        guard !targetModules.isEmpty else { throw parameters.error("target_modules", "needs at least one module") }
        seed = try parameters.seed(default: 0)
        baseModelName = try parameters.string("base_model", default: "google/gemma-3-270m-it")
    }
}

/// The `lora` adapter: wraps the backbone's projections named by `target_modules` with
/// `LoRAProjection`s, freezes everything else except the added (motion) token rows, and
/// saves/loads PEFT-compatible files (see `PEFTFiles`).
public final class LoRAAdapter: Adapter {
    public static let descriptor = PluginDescriptor(
        id: "lora", kind: .adapter,
        summary: "LoRA (Hu et al.) on the backbone's linear projections; PEFT-compatible adapter files",
        parameters: LoRAConfiguration.parameterSpecs)

    public static func make(_ parameters: PluginParameters) throws -> LoRAAdapter {
        LoRAAdapter(configuration: try LoRAConfiguration(parameters))
    }

    /// Builds the frozen base a LoRA projection wraps, from the model's projection (QLoRA
    /// swaps in a quantized one here). The default freezes the projection's parameters.
    public typealias BaseFactory = (_ name: String, _ existing: any Projection, _ model: any AdaptableModel) throws -> any Projection

    public let configuration: LoRAConfiguration
    public let baseFactory: BaseFactory?
    /// The adapted projections, in the model's order.
    public private(set) var projections: [LoRAProjection] = []
    public private(set) var model: (any AdaptableModel)?
    /// Extra entries for `adapter_config.json` (QLoRA records its quantization here).
    public var extraConfig: [String: String] = [:]

    public init(configuration: LoRAConfiguration = .init(), baseFactory: BaseFactory? = nil) {
        self.configuration = configuration
        self.baseFactory = baseFactory
    }

    public var targetModules: [String] { configuration.targetModules }

    /// LoRA matrices and the added token rows.
    public var trainableParameters: [Parameter] {
        var out = projections.flatMap { [$0.loraA, $0.loraB] }
        if let rows = model?.addedTokenRows, rows.embedding.isTrainable { out.append(rows.embedding) }
        return out
    }

    public var trainableParameterCount: Int {
        projections.reduce(0) { $0 + $1.loraA.value.count + $1.loraB.value.count }
            + (model?.addedTokenRows.map { $0.rows.count * ($0.embedding.value.count / Swift.max(1, $0.embedding.value.shape[0])) } ?? 0)
    }

    /// Whether dropout is active in every adapted projection.
    public var isTraining: Bool {
        get { projections.first?.isTraining ?? false }
        set { for p in projections { p.isTraining = newValue } }
    }

    /// Whether a module name is targeted: PEFT's rule, the name equals a target or ends
    /// with `"." + target`.
    public static func matches(_ name: String, targets: [String]) -> Bool {
        targets.contains { name == $0 || name.hasSuffix("." + $0) }
    }

    public func attach(to backbone: any LanguageBackbone) throws {
        guard let model = backbone as? any AdaptableModel else {
            throw InputError(field: "adapter", "the backbone \(type(of: backbone)) does not expose adaptable linear projections")
        }
        try attach(toModel: model)
    }

    /// Wraps the targeted projections of `model`; freezes all its other parameters except the
    /// added token rows.
    public func attach(toModel model: any AdaptableModel) throws {
        guard self.model == nil else { throw InputError(field: "adapter", "the adapter is already attached to a model") }
        let names = model.projectionNames
        for target in configuration.targetModules where !names.contains(where: { Self.matches($0, targets: [target]) }) {
            let available = Array(Set(names.map { $0.split(separator: ".").last.map(String.init) ?? $0 })).sorted()
            throw InputError(field: "adapter.target_modules", "target module '\(target)' matches no projection of the backbone",
                             allowed: available)
        }
        // Every wrapper is built before any projection is replaced, so a base that fails
        // (a missing GGUF tensor) leaves the model as it was.
        let random = SeededRandom(seed: configuration.seed).derived("lora-init")
        var wrapped: [LoRAProjection] = []
        for name in names where Self.matches(name, targets: configuration.targetModules) {
            guard let existing = model.projection(named: name) else {
                throw InputError(field: name, "the backbone lists projection '\(name)' but does not return it")
            }
            let base = try baseFactory?(name, existing, model) ?? existing
            var moduleRandom = random.derived(name)
            let lora = LoRAProjection(wrapping: base, name: name, rank: configuration.rank, alpha: configuration.alpha,
                                      dropout: configuration.dropout, random: &moduleRandom)
            lora.computeInputGradient = existing.computeInputGradient
            wrapped.append(lora)
        }
        for p in model.parameters { p.freeze() }
        for lora in wrapped {
            for p in lora.base.parameters { p.freeze() }
            try model.replaceProjection(lora.name, with: lora)
        }
        if let rows = model.addedTokenRows { rows.embedding.setTrainableRows(rows.rows) }
        projections = wrapped
        self.model = model
        isTraining = true
    }

    public func save(to directory: URL) throws {
        try PEFTFiles.write(self, to: directory)
    }

    public func load(from directory: URL) throws {
        try PEFTFiles.read(into: self, from: directory)
    }
}
