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
    /// Dropout probability on the adapter input.
    public let dropoutProbability: Float
    /// Dropout masks are drawn from this generator (advanced on every training forward).
    public var random: SeededRandom
    /// Training mode: dropout active. Inference: identity dropout.
    public var isTraining = true
    private var dropoutActive: Bool { isTraining && dropoutProbability > 0 }

    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }
    public var computeInputGradient: Bool {
        get { base.computeInputGradient }
        set { base.computeInputGradient = newValue }
    }

    private var droppedInput: Tensor?
    /// The dropped input's buffer (x itself is used when dropout is inactive), and the mask
    /// as bytes; in backward the buffer is reused for `dh · A`.
    private var dropBuffer: Tensor?
    private var mask: [UInt8] = []
    private var lastDropped = false
    private var hidden: Tensor?
    private var gradHidden: Tensor?

    /// PEFT's tensor-name prefix for this module: `base_model.model.<name>`.

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
        precondition(dropout >= 0 && dropout < 1, "LoRA dropout must be in [0, 1)")
        dropoutProbability = Float(dropout)
        self.random = random.derived("lora-dropout/" + name)
    }

    /// The trainable adapter matrices, plus any trainable parameter of the base.
    public var parameters: [Parameter] { [loraA, loraB] + base.parameters.filter(\.isTrainable) }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == inFeatures, "LoRA(\(name)): input \(x.shape), expected last dimension \(inFeatures)")
        let rows = x.rowCount
        // The update is added into the base's output buffer: a linear map's backward never
        // reads its own output, and the buffer is the base's to overwrite on its next call.
        let y = base.forward(x)
        let xd: Tensor
        lastDropped = dropoutActive
        if lastDropped {
            // Inverted dropout, the mask drawn serially so it does not depend on the thread count.
            let t = Tensor.reuse(dropBuffer, shape: x.shape)
            dropBuffer = t
            if mask.count < x.count { mask = [UInt8](repeating: 0, count: x.count) }
            let p = dropoutProbability, keep = 1 / (1 - dropoutProbability)
            let xs = x.data, ts = t.data
            mask.withUnsafeMutableBufferPointer { m in
                for i in 0..<x.count {
                    let k: UInt8 = random.nextFloat() < p ? 0 : 1
                    m[i] = k
                    ts[i] = k == 0 ? 0 : xs[i] * keep
                }
            }
            xd = t
        } else {
            xd = x
        }
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
        let dx = baseGrad  // accumulated into the base's input-gradient buffer, as the output above
        if !lastDropped {
            // dx += dh · A
            BLAS.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: rank,
                      a: dh.data, lda: rank, b: loraA.value.data, ldb: inFeatures, beta: 1, c: dx.data, ldc: inFeatures)
        } else {
            // t = dh · A in the dropped input's buffer (dA is done with it), then dx += mask ⊙ t / (1 − p).
            let t = xd
            BLAS.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: rank,
                      a: dh.data, lda: rank, b: loraA.value.data, ldb: inFeatures, beta: 0, c: t.data, ldc: inFeatures)
            let keep = 1 / (1 - dropoutProbability), ts = t.data, ds = dx.data, n = t.count
            mask.withUnsafeBufferPointer { m in
                let mp = UncheckedBytes(m.baseAddress!)
                Threads.parallelFor(n, minPerThread: 16_384) { range in
                    for i in range where mp.pointer[i] != 0 { ds[i] += ts[i] * keep }
                }
            }
            droppedInput = nil  // its contents are gone; a second backward needs a new forward
        }
        return dx
    }
}

/// A read-only byte pointer carried into parallel loops.
struct UncheckedBytes: @unchecked Sendable {
    let pointer: UnsafePointer<UInt8>
    init(_ pointer: UnsafePointer<UInt8>) { self.pointer = pointer }
}
