import BiomechCore
import Foundation
import GradientChecking
import Testing
@testable import NumericsEngine

/// A direct, unoptimised attention in Double: the reference.
private func naiveAttention(q: Tensor, k: Tensor, v: Tensor, batch: Int, hq: Int, hkv: Int, dh: Int,
                            scale: Double, window: Int?, mask: [Bool]?) -> [Double] {
    let t = q.count / (batch * hq * dh), qw = hq * dh, kw = hkv * dh
    var out = [Double](repeating: 0, count: q.count)
    for b in 0..<batch { for h in 0..<hq {
        let kvh = h / (hq / hkv)
        for i in 0..<t {
            var scores: [(Int, Double)] = []
            for j in 0...i {
                if let window, i - j >= window { continue }
                if let mask, !mask[b * t + j] { continue }
                var s = 0.0
                for d in 0..<dh { s += Double(q[(b * t + i) * qw + h * dh + d]) * Double(k[(b * t + j) * kw + kvh * dh + d]) }
                scores.append((j, s * scale))
            }
            guard let mx = scores.map(\.1).max() else { continue }
            let z = scores.reduce(0) { $0 + exp($1.1 - mx) }
            for (j, s) in scores {
                let p = exp(s - mx) / z
                for d in 0..<dh { out[(b * t + i) * qw + h * dh + d] += p * Double(v[(b * t + j) * kw + kvh * dh + d]) }
            }
        }
    } }
    return out
}

@Suite("Causal attention")
struct AttentionTests {
    struct Case: Sendable, CustomStringConvertible {
        let hq: Int, hkv: Int, window: Int?, padded: Bool, block: Int
        var description: String { "hq\(hq) hkv\(hkv) window \(window.map(String.init) ?? "none") padded \(padded) block \(block)" }
    }

    static let cases: [Case] = [
        Case(hq: 4, hkv: 1, window: nil, padded: false, block: 64),
        Case(hq: 4, hkv: 2, window: 3, padded: true, block: 2),
        Case(hq: 2, hkv: 2, window: nil, padded: true, block: 3),
        Case(hq: 4, hkv: 1, window: 4, padded: false, block: 64),
    ]

    @Test(arguments: cases)
    func matchesNaiveReferenceAndFiniteDifferences(c: Case) {
        var rng = SeededRandom(seed: 11)
        let batch = 2, t = 7, dh = 3
        let q = GradCheck.random([batch * t, c.hq * dh], &rng), k = GradCheck.random([batch * t, c.hkv * dh], &rng)
        let v = GradCheck.random([batch * t, c.hkv * dh], &rng), r = GradCheck.random([batch * t, c.hq * dh], &rng)
        // Sequence 1 is left-padded by two tokens.
        let mask: [Bool]? = c.padded ? (0..<(batch * t)).map { !($0 >= t && $0 < t + 2) } : nil
        let scale: Float = 0.7
        let attn = CausalAttention(queryHeads: c.hq, kvHeads: c.hkv, headDim: dh, scale: scale, slidingWindow: c.window)
        attn.blockSize = c.block
        let out = attn.forward(q: q, k: k, v: v, batch: batch, keyMask: mask)
        let want = naiveAttention(q: q, k: k, v: v, batch: batch, hq: c.hq, hkv: c.hkv, dh: dh,
                                  scale: Double(scale), window: c.window, mask: mask)
        for i in 0..<out.count { #expect(abs(Double(out[i]) - want[i]) < 1e-5, "output \(i)") }

        let loss = { GradCheck.weightedSum(attn.forward(q: q, k: k, v: v, batch: batch, keyMask: mask), r) }
        _ = attn.forward(q: q, k: k, v: v, batch: batch, keyMask: mask)
        let g = attn.backward(r)
        let dq = g.q.clone(), dk = g.k.clone(), dv = g.v.clone()
        #expect(GradCheck.violation(GradCheck.numeric(q, loss), dq) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(k, loss), dk) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(v, loss), dv) <= 0)
    }

    @Test func sameResultWithOneOrTwoThreads() {
        var rng = SeededRandom(seed: 12)
        let q = GradCheck.random([2 * 9, 4 * 8], &rng), k = GradCheck.random([2 * 9, 8], &rng), v = GradCheck.random([2 * 9, 8], &rng)
        var results: [[Float]] = []
        for n in [1, 2] {
            Threads.withCount(n) {
                let attn = CausalAttention(queryHeads: 4, kvHeads: 1, headDim: 8, scale: 0.35, slidingWindow: 5)
                let o = attn.forward(q: q, k: k, v: v, batch: 2)
                results.append(o.scalars + attn.backward(o).k.scalars)
            }
        }
        #expect(results[0] == results[1])
    }
}
