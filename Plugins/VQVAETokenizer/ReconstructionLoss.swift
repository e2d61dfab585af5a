import NumericsEngine

/// Reconstruction loss on packed sequences `[channels, batch · time]`:
/// `MSE(recon, target) + velocityWeight · MSE(Δrecon, Δtarget)`, where `Δ` is the
/// difference between consecutive frames of a sequence (`time − 1` per sequence).
///
/// MSE rather than T2M-GPT's smooth L1: the tokenizer is judged by RMSE (in degrees), which
/// MSE optimises directly, and features are normalised so no channel dominates.
public final class ReconstructionLoss {
    private var gradient: Tensor?
    public init() {}

    public struct Value: Sendable {
        public var reconstruction: Float
        public var velocity: Float
    }

    /// Returns the loss terms and writes `d(total)/d(recon)` (times `scale`) into an owned buffer.
    public func forwardBackward(recon: Tensor, target: Tensor, batch: Int, time: Int, velocityWeight: Float,
                                scale: Float = 1) -> (Value, Tensor) {
        precondition(recon.count == target.count && recon.count % (batch * time) == 0,
                     "ReconstructionLoss: \(recon.shape) vs \(target.shape)")
        let channels = recon.count / (batch * time)
        let g = Tensor.reuse(gradient, shape: recon.shape); gradient = g
        let n = recon.count, nv = channels * batch * Swift.max(0, time - 1)
        let kr = 2 * scale / Float(n)
        let kv = nv > 0 ? 2 * scale * velocityWeight / Float(nv) : 0
        let r = recon.data, t = target.data, gd = g.data
        // Per-channel partial sums, combined in channel order (deterministic for any thread count).
        var recSums = [Double](repeating: 0, count: channels), velSums = [Double](repeating: 0, count: channels)
        recSums.withUnsafeMutableBufferPointer { rs in
            velSums.withUnsafeMutableBufferPointer { vs in
                let rsp = rs.baseAddress!, vsp = vs.baseAddress!
                Threads.parallelFor(channels, minPerThread: Swift.max(1, 16384 / Swift.max(1, batch * time))) { range in
                    for c in range {
                        var sr: Double = 0, sv: Double = 0
                        for b in 0..<batch {
                            let o = (c * batch + b) * time
                            for i in 0..<time {
                                let e = r[o + i] - t[o + i]
                                sr += Double(e * e)
                                gd[o + i] = kr * e
                            }
                            if velocityWeight != 0 && time > 1 {
                                for i in 0..<(time - 1) {
                                    let v = (r[o + i + 1] - t[o + i + 1]) - (r[o + i] - t[o + i])
                                    sv += Double(v * v)
                                    gd[o + i + 1] += kv * v
                                    gd[o + i] -= kv * v
                                }
                            }
                        }
                        rsp[c] = sr; vsp[c] = sv
                    }
                }
            }
        }
        let rec = recSums.reduce(0, +) / Double(n)
        let vel = nv > 0 ? velSums.reduce(0, +) / Double(nv) : 0
        return (Value(reconstruction: Float(rec), velocity: Float(vel)), g)
    }
}
