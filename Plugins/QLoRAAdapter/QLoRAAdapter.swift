import BiomechCore
import Foundation
import GGUF
import LoRAAdapter
import NumericsEngine

/// Opens the GGUF file named by the configuration (or `$BIOMECHGPT_MODEL`) once, on first use.
final class GGUFSource: @unchecked Sendable {
    let path: String?
    private var opened: GGUFFile?
    init(path: String?) { self.path = path }
    func file() throws -> GGUFFile? {
        if let opened { return opened }
        let env = ProcessInfo.processInfo.environment["BIOMECHGPT_MODEL"]
        guard let p = path ?? (env?.isEmpty == false ? env : nil) else { return nil }
        opened = try GGUFFile(path: p)
        return opened
    }
}

/// QLoRA settings: LoRA's plus the frozen base's quantization.
public struct QLoRAConfiguration: Sendable, Equatable {
    public enum Quantization: String, Sendable, CaseIterable { case nf4, gguf }
    public var lora: LoRAConfiguration
    public var quantization: Quantization = .nf4
    public var blockSize: Int = 64
    public var doubleQuantization: Bool = true
    /// The GGUF file whose blocks back the base in `gguf` mode, when the backbone does not
    /// name its own (`GGUFBackedModel`); nil: `$BIOMECHGPT_MODEL`.
    public var ggufPath: String?

    public init(lora: LoRAConfiguration = .init(), quantization: Quantization = .nf4, blockSize: Int = 64,
                doubleQuantization: Bool = true, ggufPath: String? = nil) {
        self.lora = lora; self.quantization = quantization; self.blockSize = blockSize
        self.doubleQuantization = doubleQuantization; self.ggufPath = ggufPath
    }

    public init(_ parameters: PluginParameters) throws {
        lora = try LoRAConfiguration(parameters)
        quantization = Quantization(rawValue: try parameters.choice("quantization", from: Quantization.allCases.map(\.rawValue),
                                                                    default: "nf4"))!
        blockSize = try parameters.positiveInt("block_size", default: 64)
        guard blockSize % 2 == 0 else { throw parameters.error("block_size", "expected an even block size, got \(blockSize)") }
        doubleQuantization = try parameters.bool("double_quantization", default: true)
        ggufPath = try parameters.optionalString("gguf")
    }
}

/// The `qlora` adapter: LoRA over a frozen 4-bit base. Each targeted projection's weight is
/// replaced by a `QuantizedProjection` — NF4 (block 64, double-quantized scales, from the
/// model's Float32 weight, which is then released) or the weight's own GGUF blocks as
/// loaded (Q4_K, Q5_0, Q6_K, Q8_0, …, read from the memory-mapped file) — and wrapped with
/// a LoRA update. Files are LoRA's (PEFT); the quantization is recorded in
/// `adapter_config.json` under `biomechgpt`.
public final class QLoRAAdapter: Adapter, ProjectionBuildingAdapter {
    public static let descriptor = PluginDescriptor(
        id: "qlora", kind: .adapter,
        summary: "QLoRA: LoRA over a frozen 4-bit base (NF4 with double quantization, or the GGUF blocks as loaded)",
        parameters: LoRAConfiguration.parameterSpecs + [
            ParameterSpec("quantization", "nf4|gguf", default: "nf4", "how the frozen base weights are stored"),
            ParameterSpec("block_size", "int", default: "64", "NF4 block size"),
            ParameterSpec("double_quantization", "bool", default: "true", "quantize the NF4 block scales to 8 bits"),
            ParameterSpec("gguf", "string", default: nil,
                          "gguf mode: the GGUF file the backbone was loaded from (default: $BIOMECHGPT_MODEL, or the backbone's own)"),
        ])

    public static func make(_ parameters: PluginParameters) throws -> QLoRAAdapter {
        QLoRAAdapter(configuration: try QLoRAConfiguration(parameters))
    }

    public let configuration: QLoRAConfiguration
    public let lora: LoRAAdapter
    /// The tile buffer all quantized projections share.
    public let scratch: TileScratch

    public init(configuration: QLoRAConfiguration = .init()) {
        self.configuration = configuration
        let c = configuration
        let source = GGUFSource(path: c.ggufPath)
        let scratch = TileScratch()
        self.scratch = scratch
        lora = LoRAAdapter(configuration: c.lora) { name, existing, model in
            try QLoRAAdapter.quantizedBase(name: name, existing: existing, model: model, configuration: c, gguf: source,
                                           scratch: scratch)
        }
        lora.extraConfig = ["quantization": c.quantization.rawValue, "block_size": String(c.blockSize),
                            "double_quantization": String(c.doubleQuantization)]
    }

    /// The quantized replacement of one projection.
    static func quantizedBase(name: String, existing: any Projection, model: any AdaptableModel,
                              configuration c: QLoRAConfiguration, gguf: GGUFSource,
                              scratch: TileScratch) throws -> any Projection {
        switch c.quantization {
        case .gguf:
            let backed = model as? any GGUFBackedModel
            guard let file = try backed?.ggufFile ?? gguf.file() else {
                throw InputError(field: "adapter.gguf", "quantization 'gguf' needs the GGUF file the backbone was loaded from: " +
                                 "set the adapter's 'gguf' parameter or $BIOMECHGPT_MODEL", allowed: ["nf4"])
            }
            guard let tensor = LlamaCppTensorNames.weightName(forProjection: name) else {
                throw InputError(file: file.path, field: name, "no GGUF tensor is known for this projection")
            }
            let weight = try GGMLWeight(file: file, tensor: tensor)
            guard weight.rows == existing.outFeatures, weight.columns == existing.inFeatures else {
                throw InputError(file: file.path, field: tensor,
                                 "GGUF weight is \(weight.rows)×\(weight.columns), the projection is \(existing.outFeatures)×\(existing.inFeatures)")
            }
            return QuantizedProjection(name: name, weight: weight, scratch: scratch)
        case .nf4:
            if let q = existing as? QuantizedProjection, let nf4 = q.weight as? NF4Weight,
               nf4.blockSize == c.blockSize, nf4.doubleQuantized == c.doubleQuantization {
                return q  // already NF4 (a model built quantized)
            }
            guard let linear = existing as? Linear else {
                throw InputError(field: name, "NF4 quantization needs a dense Float32 projection, got \(type(of: existing))")
            }
            let weight = NF4Weight(quantizing: linear.weight.value, blockSize: c.blockSize,
                                   doubleQuantization: c.doubleQuantization)
            return QuantizedProjection(name: name, weight: weight, scratch: scratch)
        }
    }

    /// For NF4: quantizes each projection as the backbone loads it (``ProjectionBuilding``),
    /// with this adapter's block size, double quantization and tile buffer, so ``attach(to:)``
    /// then finds the base already quantized and the Float32 projections never exist together.
    /// nil for `gguf`, whose base comes from the file's own blocks at attach time.
    public var projectionBuilder: ProjectionBuilder? {
        guard configuration.quantization == .nf4 else { return nil }
        let (blockSize, double, scratch) = (configuration.blockSize, configuration.doubleQuantization, scratch)
        return { name, weight in
            QuantizedProjection(name: name, weight: NF4Weight(quantizing: weight, blockSize: blockSize, doubleQuantization: double),
                                scratch: scratch)
        }
    }

    public var targetModules: [String] { lora.targetModules }
    public var trainableParameterCount: Int { lora.trainableParameterCount }
    public var trainableParameters: [Parameter] { lora.trainableParameters }
    public func attach(to backbone: any LanguageBackbone) throws { try lora.attach(to: backbone) }
    public func attach(toModel model: any AdaptableModel) throws { try lora.attach(toModel: model) }
    public func save(to directory: URL) throws { try lora.save(to: directory) }
    public func load(from directory: URL) throws { try lora.load(from: directory) }

    /// Bytes held by the quantized base projections (codes and scales), plus the shared tile buffer.
    public var quantizedBytes: Int {
        lora.projections.reduce(0) { $0 + (($1.base as? QuantizedProjection)?.storageBytes ?? 0) } + scratch.bytes
    }
}
