import BiomechCore
import NumericsEngine

/// A LoRA-adapted projection: `y = base(x) + (alpha/rank) · dropout(x) · Aᵀ · Bᵀ`.
///
/// `A` is `[rank, in]` (PEFT's `lora_A.weight`), `B` is `[out, rank]` (`lora_B.weight`).
/// Initialisation follows PEFT: `A` uniform in ±1/√in — `kaiming_uniform_(a=√5)` gives
/// gain √(2/(1+5)) = √(1/3), std gain/√in, bound √3·std = 1/√in — and `B` zero, so the
/// adapted model starts equal to the base. Dropout (PEFT's `lora_dropout`) applies to the
/// adapter's input only, with a seeded mask, and only while `isTraining`.
///
/// Backward (`h = dropout(x)·Aᵀ`, `s = alpha/rank`):
/// - `dB += s · dyᵀ · h`
/// - `dh = s · dy · B`, `dA += dhᵀ · dropout(x)`
/// - `dx = base.backward(dy) + dropout'(dh · A)`.
///
/// The base projection is usually frozen (a dense `Linear` with a frozen weight, or a
/// quantized projection); its parameters are not listed in `parameters` unless trainable.
public final class LoRAProjection: Projection {
    public let base: any Projection
    /// The PEFT module name (`model.layers.3.self_attn.q_proj`).
    public let name: String
    public let rank: Int
    public let alpha: Double
    public let scale: Float
    public let loraA: Parameter
    public let loraB: Parameter
    public let dropout: Dropout
    /// Dropout masks are drawn from this generator (advanced on every training forward).
    public var random: SeededRandom
    /// Training mode: dropout active. Inference: identity dropout.
    public var isTraining: Bool {
        get { dropout.isTraining }
        set { dropout.isTraining = newValue }
    }

    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }
    public var computeInputGradient: Bool {
        get { base.computeInputGradient }
        set { base.computeInputGradient = newValue }
    }

    private var droppedInput: Tensor?
    private var hidden: Tensor?
    private var output: Tensor?
    private var gradHidden: Tensor?
    private var gradInput: Tensor?
    private var gradDropped: Tensor?

    /// PEFT's tensor-name prefix for this module: `base_model.model.<name>`.
    public var peftPrefix: String { "base_model.model." + name }

    /// Wraps `base` with a fresh adapter (A random, B zero).
    public init(wrapping base: any Projection, name: String, rank: Int, alpha: Double, dropout: Double,
                random: inout SeededRandom) {
        precondition(rank > 0, "LoRA rank must be positive")
        self.base = base
        self.name = name
        self.rank = rank
        self.alpha = alpha
        scale = Float(alpha / Double(rank))
        let bound = 1 / Float(base.inFeatures).squareRoot()
        let prefix = "base_model.model." + name
        loraA = Parameter(name: prefix + ".lora_A.weight",
                          value: .randomUniform(shape: [rank, base.inFeatures], bound: bound, using: &random))
        loraB = Parameter(name: prefix + ".lora_B.weight", value: Tensor(shape: [base.outFeatures, rank]))
        self.dropout = Dropout(probability: Float(dropout))
        self.random = random.derived("lora-dropout/" + name)
    }

    /// The trainable adapter matrices, plus any trainable parameter of the base.
    public var parameters: [Parameter] { [loraA, loraB] + base.parameters.filter(\.isTrainable) }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == inFeatures, "LoRA(\(name)): input \(x.shape), expected last dimension \(inFeatures)")
        let rows = x.rowCount
        let baseOut = base.forward(x)
        let y = Tensor.reuse(output, shape: baseOut.shape)
        output = y
        y.copy(from: baseOut)
        let xd = dropout.forward(x, rng: &random)
        droppedInput = xd
        let h = Tensor.reuse(hidden, shape: [rows, rank])
        hidden = h
        // h = xd · Aᵀ
        BLAS.gemm(transA: false, transB: true, m: rows, n: rank, k: inFeatures,
                  a: xd.data, lda: inFeatures, b: loraA.value.data, ldb: inFeatures, beta: 0, c: h.data, ldc: rank)
        // y += s · h · Bᵀ
        BLAS.gemm(transA: false, transB: true, m: rows, n: outFeatures, k: rank, alpha: scale,
                  a: h.data, lda: rank, b: loraB.value.data, ldb: rank, beta: 1, c: y.data, ldc: outFeatures)
        return y
    }

    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor? {
        guard let xd = droppedInput, let h = hidden else { preconditionFailure("LoRA(\(name)).backward before forward") }
        let rows = h.rowCount
        precondition(gradOutput.count == rows * outFeatures, "LoRA(\(name)): gradient \(gradOutput.shape) does not match the output")
        let dy = gradOutput.data
        let needInput = computeInputGradient
        let needHidden = loraA.isTrainable || needInput
        if let gB = loraB.grad {
            // dB += s · dyᵀ · h
            BLAS.gemm(transA: true, transB: false, m: outFeatures, n: rank, k: rows, alpha: scale,
                      a: dy, lda: outFeatures, b: h.data, ldb: rank, beta: 1, c: gB.data, ldc: rank)
        }
        var dh: Tensor? = nil
        if needHidden {
            let t = Tensor.reuse(gradHidden, shape: [rows, rank])
            gradHidden = t
            // dh = s · dy · B
            BLAS.gemm(transA: false, transB: false, m: rows, n: rank, k: outFeatures, alpha: scale,
                      a: dy, lda: outFeatures, b: loraB.value.data, ldb: rank, beta: 0, c: t.data, ldc: rank)
            dh = t
        }
        if let gA = loraA.grad, let dh {
            // dA += dhᵀ · xd
            BLAS.gemm(transA: true, transB: false, m: rank, n: inFeatures, k: rows,
                      a: dh.data, lda: rank, b: xd.data, ldb: inFeatures, beta: 1, c: gA.data, ldc: inFeatures)
        }
        let baseGrad = base.backward(gradOutput)
        guard needInput, let baseGrad, let dh else { return nil }
        let dx = Tensor.reuse(gradInput, shape: baseGrad.shape)
        gradInput = dx
        dx.copy(from: baseGrad)
        if dropout.probability == 0 || !dropout.isTraining {
            // dx += dh · A
            BLAS.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: rank,
                      a: dh.data, lda: rank, b: loraA.value.data, ldb: inFeatures, beta: 1, c: dx.data, ldc: inFeatures)
        } else {
            let t = Tensor.reuse(gradDropped, shape: baseGrad.shape)
            gradDropped = t
            BLAS.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: rank,
                      a: dh.data, lda: rank, b: loraA.value.data, ldb: inFeatures, beta: 0, c: t.data, ldc: inFeatures)
            Elementwise.addInPlace(dx, dropout.backward(t))
        }
        return dx
    }
}
