import BiomechCore
import Foundation
import NumericsEngine

/// A small stand-in for a transformer: `layers` blocks, each with q/k/v/o and gate/up/down
/// projections applied in sequence (q→o, gate→down via up's shape), plus an embedding
/// with optional added rows. It exists to exercise adapters without a language model.
final class ToyModel: AdaptableModel {
    var projections: [(String, any Projection)] = []
    let embedding: Parameter
    let added: Range<Int>?
    let norm: Parameter

    init(layers: Int = 2, hidden: Int = 8, mlp: Int = 12, vocabulary: Int = 10, addedRows: Int = 0, seed: UInt64 = 1) {
        var rng = SeededRandom(seed: seed)
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            for (n, i, o) in [("self_attn.q_proj", hidden, hidden), ("self_attn.k_proj", hidden, hidden),
                              ("self_attn.v_proj", hidden, hidden), ("self_attn.o_proj", hidden, hidden),
                              ("mlp.gate_proj", hidden, mlp), ("mlp.up_proj", mlp, mlp), ("mlp.down_proj", mlp, hidden)] {
                projections.append((p + n, Linear(name: p + n, inFeatures: i, outFeatures: o, bias: false, rng: &rng)))
            }
        }
        embedding = Parameter(name: "model.embed_tokens.weight",
                              value: .randomNormal(shape: [vocabulary + addedRows, hidden], std: 0.5, using: &rng))
        added = addedRows > 0 ? vocabulary..<(vocabulary + addedRows) : nil
        norm = Parameter(name: "model.norm.weight", value: Tensor(shape: [hidden], repeating: 1))
    }

    var projectionNames: [String] { projections.map(\.0) }
    func projection(named name: String) -> (any Projection)? { projections.first { $0.0 == name }?.1 }
    func replaceProjection(_ name: String, with projection: any Projection) throws {
        guard let i = projections.firstIndex(where: { $0.0 == name }) else { throw InputError(field: name, "no such projection") }
        projections[i].1 = projection
    }
    var addedTokenRows: (embedding: Parameter, rows: Range<Int>)? { added.map { (embedding, $0) } }
    var parameters: [Parameter] { [embedding, norm] + projections.flatMap { $0.1.parameters } }

    /// Runs the projections in sequence on `x` and returns the output.
    func forward(_ x: Tensor) -> Tensor {
        var h = x
        for (_, p) in projections { h = p.forward(h) }
        return h
    }

    func backward(_ dy: Tensor) {
        var g = dy
        for (_, p) in projections.reversed() { if let d = p.backward(g) { g = d } }
    }
}

func temporaryDirectory(_ label: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-tests-\(label)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
