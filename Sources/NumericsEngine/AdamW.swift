import BiomechCore
import CMatrixKernels
import Foundation

/// AdamW (Loshchilov & Hutter) with decoupled weight decay and bias correction, as
/// PyTorch's `torch.optim.AdamW`:
///
///     p ← p − lr·λ·p
///     m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
///     p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
///
/// Frozen parameters are skipped. A parameter with `trainableRows` updates only those
/// rows (its moments have the gradient's row-subset shape). Moments are created on the
/// first step that sees a parameter.
///
/// State for exact resumption: `stateTensors()` names the moments
/// `<parameter>.exp_avg` and `<parameter>.exp_avg_sq` (write them with `Safetensors.write`
/// and keep `stepCount`), and `loadState(_:stepCount:)` restores them.
public final class AdamW: @unchecked Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Which parameters receive weight decay (all by default; a common choice excludes
    /// norms and biases: `{ $0.value.rank >= 2 }`).
    public var decays: @Sendable (Parameter) -> Bool = { _ in true }
    /// Completed optimizer steps (the `t` of bias correction).
    public private(set) var stepCount = 0

    private var moments: [String: (m: Tensor, v: Tensor)] = [:]

    /// VQ-VAE training uses betas (0.9, 0.99); LoRA fine-tuning (0.9, 0.999).
    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    /// Applies one update to every trainable parameter from its accumulated gradient.
    /// Does not zero the gradients.
    public func step(_ parameters: [Parameter]) {
        stepCount += 1
        let t = Float(stepCount)
        let bc1 = 1 - powf(beta1, t), bc2 = 1 - powf(beta2, t)
        let stepSize = learningRate / bc1, invSqrtBC2 = 1 / bc2.squareRoot()
        for p in parameters {
            guard let g = p.grad else { continue }
            let state: (m: Tensor, v: Tensor)
            if let s = moments[p.name], s.m.count == g.count { state = s } else {
                state = (Tensor(shape: g.shape), Tensor(shape: g.shape)); moments[p.name] = state
            }
            let rowWidth = p.value.rank > 1 ? p.value.count / p.value.shape[0] : 1
            let w = p.value.data + p.gradRowOffset * rowWidth
            let decay = decays(p) ? 1 - learningRate * weightDecay : 1
            let gs = g.data, ms = state.m.data, vs = state.v.data
            let coefficients = adamw_coefficients(beta1: beta1, beta2: beta2, decay: decay, step_size: stepSize,
                                                  inv_sqrt_bias2: invSqrtBC2, epsilon: epsilon)
            // The update itself is a C kernel (16 lanes with AVX-512, CMatrixKernels/adamw.c).
            Threads.parallelFor(g.count, minPerThread: elementwiseGrain) { range in
                adamw_update(w + range.lowerBound, gs + range.lowerBound, ms + range.lowerBound, vs + range.lowerBound,
                             Int64(range.count), coefficients)
            }
        }
    }

    /// Convenience: steps every trainable parameter of a store.
    public func step(_ store: ParameterStore) { step(store.all) }

    /// The moment tensors by name (`<parameter>.exp_avg`, `<parameter>.exp_avg_sq`).
    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, s) in moments { out[name + ".exp_avg"] = s.m; out[name + ".exp_avg_sq"] = s.v }
        return out
    }

    /// Restores moments written by `stateTensors()` and the step count. Every trainable
    /// parameter must have both moments with its gradient's shape.
    public func loadState(_ tensors: [String: Tensor], stepCount: Int, parameters: [Parameter], file: String? = nil) throws {
        var restored: [String: (m: Tensor, v: Tensor)] = [:]
        for p in parameters {
            guard let g = p.grad else { continue }
            for suffix in [".exp_avg", ".exp_avg_sq"] {
                guard let t = tensors[p.name + suffix] else {
                    throw InputError(file: file, field: p.name + suffix, "optimizer state is missing this moment")
                }
                guard t.shape == g.shape else {
                    throw InputError(file: file, field: p.name + suffix, "moment has shape \(t.shape), expected \(g.shape)")
                }
            }
            restored[p.name] = (tensors[p.name + ".exp_avg"]!.clone(), tensors[p.name + ".exp_avg_sq"]!.clone())
        }
        moments = restored
        self.stepCount = stepCount
    }
}

/// Gradient clipping by global norm (`torch.nn.utils.clip_grad_norm_`).
public enum GradientClipping {
    /// The L2 norm of all trainable gradients taken together.
    public static func globalNorm(_ parameters: [Parameter]) -> Float {
        var total: Double = 0
        for p in parameters {
            guard let g = p.grad else { continue }
            var s: Double = 0
            for i in 0..<g.count { let x = Double(g.data[i]); s += x * x }
            total += s
        }
        return Float(total.squareRoot())
    }

    /// Scales all gradients by `maxNorm / norm` when the global norm exceeds `maxNorm`.
    /// Returns the norm before clipping.
    @discardableResult
    public static func clipGlobalNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
        let norm = globalNorm(parameters)
        if norm > maxNorm && norm > 0 {
            let k = maxNorm / (norm + 1e-6)
            for p in parameters { if let g = p.grad { Elementwise.scale(g, by: k) } }
        }
        return norm
    }
}
