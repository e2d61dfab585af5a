import BiomechCore

/// A fully connected layer, `y = x · Wᵀ + b`.
///
/// Shapes: `x` is `[..., in]` (read as `rows × in`), `W` is `[out, in]` — PyTorch's and
/// safetensors' layout, so checkpoint weights are used as stored — `b` is `[out]`, and
/// `y` is `[..., out]`. The product is one `sgemm` with the weight transposed by flag.
///
/// Backward:
/// - `dX = dY · W` (skipped when `computeInputGradient` is false, e.g. the first layer),
/// - `dW += dYᵀ · X` (skipped when the weight is frozen; only the trainable rows when
///   `weight.trainableRows` is set),
/// - `db += Σ_rows dY`.
///
/// The layer keeps a reference to its input until `backward`; the caller must not
/// overwrite that tensor in between. The returned tensors belong to the layer and are
/// overwritten by the next call.
public final class Linear: ParameterizedLayer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// Whether `backward` computes the input gradient.
    public var computeInputGradient = true
    /// The arithmetic of multi-row forward products (``ProductPrecision``); backward
    /// products are always float32. With `bfloat16` a frozen weight is rounded and packed
    /// once, on first use (``BFloat16PackedMatrix``, 2 bytes per value): change a frozen
    /// weight's values afterwards only through a new `Linear`, or set the precision again.
    public var productPrecision = ProductPrecision.float32 { didSet { packedWeight = nil } }
    private var packedWeight: BFloat16PackedMatrix?
    /// Switches ``singleRowProduct`` off without dropping it (to compare both paths).
    public var usesSingleRowProduct = true
    /// Computes one-row forwards while the weight is frozen (decoding), e.g. from the
    /// quantized blocks the weight was loaded from. Backward is unaffected.
    public var singleRowProduct: (any SingleRowProduct)? {
        didSet {
            if let p = singleRowProduct {
                precondition(p.inFeatures == inFeatures && p.outFeatures == outFeatures,
                             "Linear(\(weight.name)): single-row product \(p.outFeatures)×\(p.inFeatures) for a \(outFeatures)×\(inFeatures) weight")
            }
        }
    }

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    /// A layer with PyTorch's default initialisation, `U(-1/√in, 1/√in)` for weight and bias.
    /// Parameters are named `name.weight` and `name.bias`.
    public init(name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true, rng: inout SeededRandom) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Parameter(name: name + ".weight",
                           value: .randomUniform(shape: [outFeatures, inFeatures], bound: bound, using: &rng))
        self.bias = bias ? Parameter(name: name + ".bias",
                                     value: .randomUniform(shape: [outFeatures], bound: bound, using: &rng)) : nil
    }

    /// A layer over existing parameters (loaded from a checkpoint, or shared).
    public init(weight: Parameter, bias: Parameter? = nil) {
        precondition(weight.value.rank == 2, "\(weight.name): a linear weight is [out, in], got \(weight.value.shape)")
        self.weight = weight
        self.bias = bias
        outFeatures = weight.value.shape[0]
        inFeatures = weight.value.shape[1]
        if let bias { precondition(bias.value.count == outFeatures, "\(bias.name): bias needs \(outFeatures) values") }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// Computes `y = x · Wᵀ + b` into the layer's output buffer.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == inFeatures, "Linear(\(weight.name)): input \(x.shape), expected last dimension \(inFeatures)")
        let rows = x.rowCount
        let y = Tensor.reuse(output, shape: Array(x.shape.dropLast()) + [outFeatures])
        output = y
        input = x
        if rows == 1, usesSingleRowProduct, !weight.isTrainable, let product = singleRowProduct {
            product.apply(x.data, into: y.data)
            if let b = bias?.value.data { for j in 0..<outFeatures { y.data[j] += b[j] } }
            return y
        }
        // A frozen weight is rounded and packed once for bfloat16 products.
        if rows > 1, productPrecision == .bfloat16, !weight.isTrainable, packedWeight == nil {
            packedWeight = BFloat16PackedMatrix(transB: true, n: outFeatures, k: inFeatures, b: weight.value.data, ldb: inFeatures)
        }
        Linear.forward(x: x.data, rows: rows, weight: weight.value.data, bias: bias?.value.data,
                       inFeatures: inFeatures, outFeatures: outFeatures, y: y.data, precision: productPrecision,
                       packedWeight: weight.isTrainable ? nil : packedWeight)
        return y
    }

    /// Accumulates parameter gradients and returns the input gradient (nil when
    /// `computeInputGradient` is false).
    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("Linear(\(weight.name)).backward before forward") }
        precondition(gradOutput.count == x.rowCount * outFeatures, "Linear(\(weight.name)): gradient \(gradOutput.shape) does not match the output")
        let rows = x.rowCount
        let dy = gradOutput.data
        if let gw = weight.grad {
            let r = weight.trainableRows ?? 0..<outFeatures
            // dW[r] += dY[:, r]ᵀ · X
            BLAS.gemm(transA: true, transB: false, m: r.count, n: inFeatures, k: rows,
                      a: dy + r.lowerBound, lda: outFeatures, b: x.data, ldb: inFeatures,
                      beta: 1, c: gw.data, ldc: inFeatures)
        }
        if let gb = bias?.grad {
            Linear.accumulateColumnSums(dy, rows: rows, columns: outFeatures, into: gb.data)
        }
        guard computeInputGradient else { return nil }
        let dx = Tensor.reuse(gradInput, shape: x.shape)
        gradInput = dx
        // dX = dY · W
        BLAS.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                  a: dy, lda: outFeatures, b: weight.value.data, ldb: inFeatures,
                  beta: 0, c: dx.data, ldc: inFeatures)
        return dx
    }

    /// The forward kernel on raw buffers: `y[rows×out] = x[rows×in] · W[out×in]ᵀ + b`, with
    /// the weight's bfloat16 packing when `precision` is bfloat16 and one is given.
    public static func forward(x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, inFeatures: Int, outFeatures: Int,
                               y: UnsafeMutablePointer<Float>, precision: ProductPrecision = .float32,
                               packedWeight: BFloat16PackedMatrix? = nil) {
        var beta: Float = 0
        if let bias {
            Threads.parallelFor(rows, minPerThread: 64) { range in
                for r in range { (y + r * outFeatures).update(from: bias, count: outFeatures) }
            }
            beta = 1
        }
        if precision == .bfloat16, rows > 1, let packedWeight {
            packedWeight.multiply(m: rows, a: x, lda: inFeatures, beta: beta, c: y, ldc: outFeatures)
            return
        }
        BLAS.gemm(precision: precision, transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                  a: x, lda: inFeatures, b: weight, ldb: inFeatures, beta: beta, c: y, ldc: outFeatures)
    }

    /// `out[c] += Σ_r m[r, c]`.
    static func accumulateColumnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(columns, minPerThread: 256) { range in
            for r in 0..<rows {
                let row = m + r * columns
                for c in range { out[c] += row[c] }
            }
        }
    }
}
