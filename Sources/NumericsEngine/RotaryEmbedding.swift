import Foundation

/// Rotary position embedding in the Hugging Face "rotate_half" convention: within each
/// head of `headDim` values, element `i` is paired with `i + headDim/2` and the pair is
/// rotated by angle `θ_i = (position / scalingFactor) · base^(−2i/headDim)`:
///
///     out[i]        = x[i]·cos θ_i − x[i+h]·sin θ_i
///     out[i+h]      = x[i+h]·cos θ_i + x[i]·sin θ_i        (h = headDim/2)
///
/// Gemma 3 uses base 1 000 000 on global layers and 10 000 on local (sliding) layers.
///
/// Shapes: `x` is `[tokens, heads · headDim]`, and `positions[t]` is token `t`'s position
/// (so left-padded batches can start each sequence at 0). Both directions work in place:
/// the rotation is orthogonal, so the backward pass is the inverse rotation of the gradient.
/// Angles are computed in Double and stored as Float tables, grown on demand.
public final class RotaryEmbedding: @unchecked Sendable {
    public let headDim: Int
    public let base: Double
    public let scalingFactor: Double
    private var cosTable: [Float] = []
    private var sinTable: [Float] = []
    private var tablePositions = 0

    public init(headDim: Int, base: Double, scalingFactor: Double = 1) {
        precondition(headDim % 2 == 0, "RoPE needs an even head dimension, got \(headDim)")
        self.headDim = headDim
        self.base = base
        self.scalingFactor = scalingFactor
    }

    private func ensureTable(upTo maxPosition: Int) {
        guard maxPosition >= tablePositions else { return }
        let n = Swift.max(maxPosition + 1, tablePositions * 2, 64), half = headDim / 2
        var c = [Float](repeating: 0, count: n * half), s = c
        let invFreq = (0..<half).map { pow(base, -Double(2 * $0) / Double(headDim)) }
        for p in 0..<n {
            for i in 0..<half {
                let angle = Double(p) / scalingFactor * invFreq[i]
                c[p * half + i] = Float(cos(angle)); s[p * half + i] = Float(sin(angle))
            }
        }
        cosTable = c; sinTable = s; tablePositions = n
    }

    /// Rotates `x` in place (forward).
    public func apply(_ x: Tensor, heads: Int, positions: [Int]) { rotate(x, heads: heads, positions: positions, sign: 1) }

    /// Rotates the gradient `grad` back in place (backward of `apply`).
    public func applyBackward(_ grad: Tensor, heads: Int, positions: [Int]) { rotate(grad, heads: heads, positions: positions, sign: -1) }

    private func rotate(_ x: Tensor, heads: Int, positions: [Int], sign: Float) {
        let width = heads * headDim
        precondition(x.count == positions.count * width,
                     "RoPE: tensor \(x.shape) is not \(positions.count) tokens × \(heads) heads × \(headDim)")
        let maxPos = positions.max() ?? 0
        precondition((positions.min() ?? 0) >= 0, "RoPE: negative position")
        ensureTable(upTo: maxPos)
        let half = headDim / 2, hd = headDim, xs = x.data
        cosTable.withUnsafeBufferPointer { cb in
            sinTable.withUnsafeBufferPointer { sb in
                positions.withUnsafeBufferPointer { pb in
                    let cp = cb.baseAddress!, sp = sb.baseAddress!, pp = pb.baseAddress!
                    Threads.parallelFor(positions.count, minPerThread: 32) { range in
                        for t in range {
                            let c = cp + pp[t] * half, s = sp + pp[t] * half
                            for h in 0..<heads {
                                let row = xs + t * width + h * hd
                                for i in 0..<half {
                                    let a = row[i], b = row[i + half], sn = sign * s[i]
                                    row[i] = a * c[i] - b * sn
                                    row[i + half] = b * c[i] + a * sn
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
