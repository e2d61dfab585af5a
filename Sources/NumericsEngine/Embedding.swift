import BiomechCore

/// Embedding lookup: `out[t] = outputScale · table[ids[t]]`.
///
/// Shapes: `table` is `[vocabularySize, dimension]`; `forward(ids:)` returns
/// `[ids.count, dimension]`. There is no input gradient (ids are discrete).
///
/// Backward adds `outputScale · dOut[t]` into row `ids[t]` of the table's gradient.
/// When only some rows are trainable (`weight.setTrainableRows(_:)`, e.g. the new
/// motion-token rows appended to a text vocabulary), the gradient buffer holds only
/// those rows and lookups of other rows contribute nothing: the gradient is a
/// row-subset gradient, never the full `[vocabulary, dimension]` matrix.
public final class Embedding: ParameterizedLayer {
    public let weight: Parameter
    /// A constant multiplier on the output (Gemma multiplies embeddings by `√hidden`).
    public var outputScale: Float
    private var ids: [Int] = []
    private var output: Tensor?

    /// A table initialised `N(0, std²)`, named `name.weight`.
    public init(name: String, vocabularySize: Int, dimension: Int, std: Float = 1, outputScale: Float = 1,
                rng: inout SeededRandom) {
        weight = Parameter(name: name + ".weight",
                           value: .randomNormal(shape: [vocabularySize, dimension], std: std, using: &rng))
        self.outputScale = outputScale
    }

    /// A lookup over an existing `[vocabulary, dimension]` parameter.
    public init(weight: Parameter, outputScale: Float = 1) {
        precondition(weight.value.rank == 2, "\(weight.name): an embedding table is [vocabulary, dimension]")
        self.weight = weight
        self.outputScale = outputScale
    }

    public var parameters: [Parameter] { [weight] }
    public var vocabularySize: Int { weight.value.shape[0] }
    public var dimension: Int { weight.value.shape[1] }

    public func forward(ids: [Int]) -> Tensor {
        let d = dimension, v = vocabularySize
        let y = Tensor.reuse(output, shape: [ids.count, d])
        output = y
        self.ids = ids
        let table = weight.value.data, ys = y.data, s = outputScale
        ids.withUnsafeBufferPointer { idp in
            let idb = idp.baseAddress!
            Threads.parallelFor(ids.count, minPerThread: 32) { range in
                for t in range {
                    let id = idb[t]
                    precondition(id >= 0 && id < v, "embedding id \(id) outside 0..<\(v)")
                    let src = table + id * d, dst = ys + t * d
                    if s == 1 { dst.update(from: src, count: d) } else { for j in 0..<d { dst[j] = src[j] * s } }
                }
            }
        }
        return y
    }

    /// Accumulates the (row-subset) table gradient.
    public func backward(_ gradOutput: Tensor) {
        let d = dimension
        precondition(gradOutput.count == ids.count * d, "Embedding: gradient \(gradOutput.shape) does not match \(ids.count)×\(d)")
        guard let g = weight.grad else { return }
        let rows = weight.trainableRows ?? 0..<vocabularySize
        // Serial over tokens: repeated ids would race if split across threads.
        for (t, id) in ids.enumerated() where rows.contains(id) {
            BLAS.axpy(outputScale, gradOutput.data + t * d, g.data + (id - rows.lowerBound) * d, count: d)
        }
    }
}
