import BiomechCore
import CBLAS
import Foundation

/// The engine benchmark behind `biomechgpt bench engine` (a measurement, not a test).
///
/// It reports, in one run:
/// 1. raw `cblas_sgemm` GFLOP/s and the engine's `Linear` forward and backward GFLOP/s
///    at transformer shapes (256×640→2048, 256×2048→640, 256×640→262144) and their
///    ratio (target ≥ 0.9);
/// 2. for one Gemma 3 270M layer on 256 tokens (hidden 640, 4 query heads, 1 KV head,
///    head dim 256, MLP 2048), forward + backward time of RMSNorm (4 block norms and the
///    q/k norms), RoPE (q and k), attention and gated GELU, as a fraction of the forward +
///    backward time of that layer's seven matrix products (target ≤ 0.25).
///
/// Each figure is the best of several timed repetitions after a warm-up.
public enum EngineBenchmark {
    /// Runs all measurements with `threads` threads and returns the printable report.
    public static func run(threads: Int) -> String {
        let previous = Threads.count
        Threads.setCount(threads)
        defer { Threads.setCount(previous) }
        var rng = SeededRandom(seed: 2024)
        var lines: [String] = []
        let config = String(cString: openblas_get_config())
        lines.append("Numerics engine benchmark — \(threads) thread(s), OpenBLAS \(config), kernels \(BLASKernels.coreName)")
        lines.append("")
        lines.append("Linear layers (y = x·Wᵀ, W [out, in]; best of repeated runs)")
        lines.append(pad("shape", 22) + pad("pass", 10) + pad("raw sgemm", 14) + pad("engine", 14) + "ratio")
        var worstRatio = Double.infinity
        for (m, k, n) in [(256, 640, 2048), (256, 2048, 640), (256, 640, 262_144)] {
            let shape = "\(m)×\(k)→\(n)"
            let x = Tensor.randomNormal(shape: [m, k], std: 1, using: &rng)
            let layer = Linear(name: "bench", inFeatures: k, outFeatures: n, bias: false, rng: &rng)
            let dy = Tensor.randomNormal(shape: [m, n], std: 1, using: &rng)
            let dx = Tensor(shape: [m, k]), y = Tensor(shape: [m, n])
            let w = layer.weight.value, gw = layer.weight.grad!
            let flops = 2.0 * Double(m * n * k)
            let big = n > 100_000
            let reps = big ? 5 : 20
            // Raw and engine runs alternate, so that load from other processes on a shared
            // machine affects both sides of each ratio alike.
            let (rawFwd, engFwd) = bestAlternating(reps, {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, x.data, Int32(k),
                            w.data, Int32(k), 0, y.data, Int32(n))
            }, { _ = layer.forward(x) })
            let (rawBwd, engBwd) = bestAlternating(reps, {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(k), Int32(n), 1, dy.data, Int32(n),
                            w.data, Int32(k), 0, dx.data, Int32(k))
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(k), Int32(m), 1, dy.data, Int32(n),
                            x.data, Int32(k), 1, gw.data, Int32(k))
            }, { _ = layer.backward(dy) })
            for (pass, raw, eng, f) in [("forward", rawFwd, engFwd, flops), ("backward", rawBwd, engBwd, 2 * flops)] {
                let ratio = raw / eng
                worstRatio = Swift.min(worstRatio, ratio)
                lines.append(pad(shape, 22) + pad(pass, 10) + pad(gflops(f, raw), 14) + pad(gflops(f, eng), 14)
                             + String(format: "%.2f", ratio))
            }
        }
        lines.append(String(format: "Lowest engine/raw ratio: %.2f (target ≥ 0.9)", worstRatio))
        lines.append("")
        lines.append(contentsOf: bfloat16Products(rng: &rng))
        lines.append("")
        lines.append(contentsOf: gemmaLayer(rng: &rng))
        lines.append("")
        lines.append(contentsOf: crossEntropy(rng: &rng))
        return lines.joined(separator: "\n")
    }

    /// Forward products of a frozen layer in bfloat16 (weight packed once, and packed per
    /// product) beside raw float32 `sgemm` on the same shapes.
    private static func bfloat16Products(rng: inout SeededRandom) -> [String] {
        guard BLAS.hasBFloat16Products else { return ["bfloat16 products: this processor has no AVX512-BF16 (float32 is used)"] }
        var lines = ["bfloat16 products (y = x·Wᵀ, frozen W; operands rounded to bfloat16, float32 sums; best of repeated runs)",
                     pad("shape", 22) + pad("raw sgemm", 14) + pad("packed W", 14) + pad("per product", 14) + "packed/raw"]
        for (m, k, n) in [(256, 640, 2048), (256, 2048, 640), (150, 640, 1024)] {
            let x = Tensor.randomNormal(shape: [m, k], std: 1, using: &rng)
            let w = Tensor.randomNormal(shape: [n, k], std: 1, using: &rng)
            let layer = Linear(weight: Parameter(name: "bench", value: w, isTrainable: false))
            layer.productPrecision = .bfloat16
            let y = Tensor(shape: [m, n])
            let flops = 2.0 * Double(m * n * k)
            let (raw, packed) = bestAlternating(20, {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, x.data, Int32(k),
                            w.data, Int32(k), 0, y.data, Int32(n))
            }, { _ = layer.forward(x) })
            let perProduct = best(20) {
                BLAS.gemm(precision: .bfloat16, transB: true, m: m, n: n, k: k, a: x.data, lda: k, b: w.data, ldb: k,
                          beta: 0, c: y.data, ldc: n)
            }
            lines.append(pad("\(m)×\(k)→\(n)", 22) + pad(gflops(flops, raw), 14) + pad(gflops(flops, packed), 14)
                         + pad(gflops(flops, perProduct), 14) + String(format: "%.2f", raw / packed))
        }
        return lines
    }

    private static func gemmaLayer(rng: inout SeededRandom) -> [String] {
        let t = 256, hidden = 640, hq = 4, hkv = 1, hd = 256, inter = 2048
        let x = Tensor.randomNormal(shape: [t, hidden], std: 1, using: &rng)
        let projections: [(String, Int, Int)] = [("q_proj", hidden, hq * hd), ("k_proj", hidden, hkv * hd),
                                                 ("v_proj", hidden, hkv * hd), ("o_proj", hq * hd, hidden),
                                                 ("gate_proj", hidden, inter), ("up_proj", hidden, inter),
                                                 ("down_proj", inter, hidden)]
        var linears: [(Linear, Tensor, Tensor)] = []
        for (name, i, o) in projections {
            let l = Linear(name: name, inFeatures: i, outFeatures: o, bias: false, rng: &rng)
            linears.append((l, Tensor.randomNormal(shape: [t, i], std: 1, using: &rng), Tensor.randomNormal(shape: [t, o], std: 1, using: &rng)))
        }
        let matmul = best(10) {
            for (l, input, _) in linears { _ = l.forward(input) }
            for (l, _, grad) in linears { _ = l.backward(grad) }
        }

        // RMSNorm: input, post-attention, pre-feed-forward, post-feed-forward (640), q-norm and k-norm (256 per head).
        let norms = (0..<4).map { RMSNorm(name: "n\($0)", dimension: hidden, weightOffset: 1) }
        let qNorm = RMSNorm(name: "q_norm", dimension: hd, weightOffset: 1), kNorm = RMSNorm(name: "k_norm", dimension: hd, weightOffset: 1)
        let q = Tensor.randomNormal(shape: [t, hq * hd], std: 1, using: &rng)
        let k = Tensor.randomNormal(shape: [t, hkv * hd], std: 1, using: &rng)
        let v = Tensor.randomNormal(shape: [t, hkv * hd], std: 1, using: &rng)
        let dq = Tensor.randomNormal(shape: [t, hq * hd], std: 1, using: &rng)
        let dk = Tensor.randomNormal(shape: [t, hkv * hd], std: 1, using: &rng)
        let norm = best(20) {
            for n in norms { _ = n.forward(x); _ = n.backward(x) }
            _ = qNorm.forward(q); _ = qNorm.backward(dq)
            _ = kNorm.forward(k); _ = kNorm.backward(dk)
        }
        let rope = RotaryEmbedding(headDim: hd, base: 1_000_000)
        let positions = Array(0..<t)
        let ropeTime = best(20) {
            rope.apply(q, heads: hq, positions: positions); rope.apply(k, heads: hkv, positions: positions)
            rope.applyBackward(dq, heads: hq, positions: positions); rope.applyBackward(dk, heads: hkv, positions: positions)
        }
        let attn = CausalAttention(queryHeads: hq, kvHeads: hkv, headDim: hd, scale: 1 / Float(hd).squareRoot())
        let attnTime = best(20) {
            _ = attn.forward(q: q, k: k, v: v, batch: 1)
            _ = attn.backward(dq)
        }
        let gate = Tensor.randomNormal(shape: [t, inter], std: 1, using: &rng)
        let up = Tensor.randomNormal(shape: [t, inter], std: 1, using: &rng)
        let gg = GatedGELU()
        let geluTime = best(20) { _ = gg.forward(gate: gate, up: up); _ = gg.backward(up) }

        let others = norm + ropeTime + attnTime + geluTime
        var lines = ["Gemma 3 270M layer, 256 tokens, forward + backward"]
        lines.append(pad("matrix products (7 linears)", 34) + ms(matmul))
        for (name, time) in [("RMSNorm (4 + q/k norms)", norm), ("RoPE (q, k)", ropeTime),
                             ("attention (4 q heads, 1 kv head)", attnTime), ("gated GELU", geluTime)] {
            lines.append(pad(name, 34) + pad(ms(time), 12) + String(format: "%.3f of products", time / matmul))
        }
        lines.append(pad("other operations together", 34) + pad(ms(others), 12)
                     + String(format: "%.3f of products (target ≤ 0.25)", others / matmul))
        return lines
    }

    /// The tied LM head: chunked cross-entropy over the 262144-row vocabulary for 256 tokens.
    private static func crossEntropy(rng: inout SeededRandom) -> [String] {
        let n = 256, d = 640, vocab = 262_144
        let hidden = Tensor.randomNormal(shape: [n, d], std: 1, using: &rng)
        let table = Parameter(name: "embed_tokens.weight",
                              value: .randomNormal(shape: [vocab, d], std: 0.05, using: &rng), isTrainable: false)
        let targets = (0..<n).map { _ in rng.nextInt(below: vocab) }
        let ce = ChunkedCrossEntropy()
        let frozen = best(3) { _ = ce.lossAndGradient(hidden: hidden, weight: table, targets: targets) }
        table.setTrainableRows((vocab - 512)..<vocab)
        let newRows = best(3) { _ = ce.lossAndGradient(hidden: hidden, weight: table, targets: targets) }
        let product = 2.0 * Double(n * d * vocab)
        return [
            "Chunked cross-entropy, 256 tokens × 262144 vocabulary (tied 262144×640 head, chunks of \(ce.chunkSize))",
            pad("loss + hidden gradient, frozen table", 44) + pad(ms(frozen), 12)
                + String(format: "%.1f GFLOP/s over its 2 vocabulary products", 2 * product / frozen / 1e9),
            pad("… plus gradient of 512 new rows", 44) + ms(newRows),
        ]
    }

    /// The best wall times of `a` and `b`, run alternately `reps` times each after a warm-up.
    private static func bestAlternating(_ reps: Int, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
        a(); b()
        var ta = Double.infinity, tb = Double.infinity
        for _ in 0..<reps {
            ta = Swift.min(ta, best(0, a, warmUp: false))
            tb = Swift.min(tb, best(0, b, warmUp: false))
        }
        return (ta, tb)
    }

    /// The best wall time of `reps` runs (at least one) after one warm-up.
    private static func best(_ reps: Int, _ body: () -> Void, warmUp: Bool = true) -> Double {
        if warmUp { body() }
        var bestTime = Double.infinity
        for _ in 0..<Swift.max(1, reps) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            bestTime = Swift.min(bestTime, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return bestTime
    }

    private static func gflops(_ flops: Double, _ seconds: Double) -> String { String(format: "%.1f GFLOP/s", flops / seconds / 1e9) }
    private static func ms(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1e3) }
    private static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
}
