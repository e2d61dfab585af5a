import BiomechCore
import Foundation
import GGUF
import NumericsEngine

/// Where a ``Gemma3Model`` gets its weights. Tensors are asked for by their Hugging Face
/// name without any prefix (`model.embed_tokens.weight`,
/// `model.layers.3.self_attn.q_proj.weight`, `model.layers.3.input_layernorm.weight`,
/// `model.norm.weight`) and returned as dense Float32 tensors in PyTorch's layout
/// (`[out, in]` for projections).
public protocol Gemma3WeightSource {
    /// The constant added to stored RMSNorm weights (0 for GGUF, which stores `1 + w`;
    /// 1 for Hugging Face safetensors, which store `w`).
    var normWeightOffset: Float { get }
    /// A description for errors and logs.
    var description: String { get }
    func tensor(_ name: String, shape: [Int]) throws -> Tensor
    /// A faster one-row product for a projection weight (`[out, in]`) from the source's own
    /// storage, or nil (the default) when there is none.
    func singleRowProduct(_ name: String, shape: [Int]) -> (any SingleRowProduct)?
}

extension Gemma3WeightSource {
    public func singleRowProduct(_ name: String, shape: [Int]) -> (any SingleRowProduct)? { nil }
}

/// Weights dequantized to Float32 from a GGUF file (llama.cpp's Gemma 3 tensor names).
public struct GGUFWeights: Gemma3WeightSource {
    public let file: GGUFFile
    public init(file: GGUFFile) { self.file = file }
    public var normWeightOffset: Float { 0 }
    public var description: String { file.path }

    /// The GGUF name of a Hugging Face tensor name.
    public static func ggufName(_ hf: String) -> String? { LlamaCppTensorNames.ggufName(hf) }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let gname = Self.ggufName(name) else {
            throw InputError(file: file.path, field: name, "no GGUF tensor corresponds to this Gemma 3 weight")
        }
        guard file.hasTensor(gname) else {
            throw InputError(file: file.path, field: gname, "the model file has no tensor '\(gname)' (needed for \(name))")
        }
        let info = try file.tensor(gname)
        guard info.shape.reduce(1, *) == shape.reduce(1, *), info.shape.last == shape.last else {
            throw InputError(file: file.path, field: gname,
                             "has shape \(info.shape) (GGUF dimensions \(info.dimensions)); the configuration expects \(shape)")
        }
        let t = Tensor(shape: shape)
        let rows = info.rowCount, width = info.rowLength
        let base = UncheckedPointer(t.data)
        var failure: (any Error)?
        let lock = NSLock()
        Threads.parallelFor(rows, minPerThread: 256) { range in
            do {
                try file.dequantizeRows(info, range, into: UnsafeMutableBufferPointer(start: base.pointer + range.lowerBound * width,
                                                                                  count: range.count * width))
            } catch { lock.lock(); failure = error; lock.unlock() }
        }
        if let failure { throw failure }
        return t
    }

    /// The quantized blocks of a projection read directly (``GGMLRowProduct``), when the
    /// tensor's type has a kernel and its shape is the projection's.
    public func singleRowProduct(_ name: String, shape: [Int]) -> (any SingleRowProduct)? {
        guard shape.count == 2, let gname = Self.ggufName(name), file.hasTensor(gname),
              let info = try? file.tensor(gname), info.rowCount == shape[0], info.rowLength == shape[1] else { return nil }
        return GGMLRowProduct(file: file, info: info)
    }
}

/// Weights from Hugging Face safetensors files (one or several shards). Names may carry a
/// prefix (`language_model.`, `model.language_model.` in multimodal checkpoints); it is
/// found from the embedding's name.
public struct SafetensorsWeights: Gemma3WeightSource {
    public let files: [SafetensorsFile]
    /// Replaces the leading `model.` of a requested name (e.g. `model.language_model.`).
    public let modelPrefix: String
    public init(files: [SafetensorsFile]) throws {
        self.files = files
        let all = files.flatMap(\.names)
        guard let embed = all.first(where: { $0.hasSuffix("embed_tokens.weight") }) else {
            throw InputError(file: files.first?.path, "no '*embed_tokens.weight' tensor: not a Gemma 3 checkpoint")
        }
        modelPrefix = String(embed.dropLast("embed_tokens.weight".count))
    }

    /// Opens `model.safetensors` or every `*.safetensors` shard of a directory.
    public init(directory: URL) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let shards = names.filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !shards.isEmpty else { throw InputError(file: directory.path, "no .safetensors files in the model directory") }
        try self.init(files: shards.map { try SafetensorsFile(path: directory.appendingPathComponent($0).path) })
    }

    public var normWeightOffset: Float { 1 }
    public var description: String { files.first?.path ?? "safetensors" }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let key = name.hasPrefix("model.") ? modelPrefix + name.dropFirst("model.".count) : name
        for f in files where f.entries[key] != nil {
            let t = try f.tensor(key)
            guard t.count == shape.reduce(1, *) else {
                throw InputError(file: f.path, field: key, "has shape \(t.shape); the configuration expects \(shape)")
            }
            t.reshape(shape)
            return t
        }
        throw InputError(file: description, field: key, "the checkpoint has no tensor '\(key)'")
    }
}

/// Randomly initialised weights (tests, demos): projections and embeddings `N(0, std²)`,
/// norm weights `1 + N(0, normJitter²)` (stored with the `+1`, as in GGUF). Each tensor's
/// values depend only on the seed and the tensor's name.
public struct RandomWeights: Gemma3WeightSource {
    public var seed: UInt64
    public var std: Float
    public var normJitter: Float
    public init(seed: UInt64, std: Float = 0.02, normJitter: Float = 0) {
        self.seed = seed; self.std = std; self.normJitter = normJitter
    }
    public var normWeightOffset: Float { 0 }
    public var description: String { "random(seed: \(seed))" }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        var rng = SeededRandom(seed: seed).derived(name)
        if name.hasSuffix("norm.weight") {
            let t = Tensor.randomNormal(shape: shape, std: normJitter, using: &rng)
            for i in 0..<t.count { t.data[i] += 1 }
            return t
        }
        return Tensor.randomNormal(shape: shape, std: std, using: &rng)
    }
}

/// A raw pointer carried into parallel loops that write disjoint ranges.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
