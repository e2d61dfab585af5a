import Foundation
import BiomechCore
import GradientChecking
import Testing
@testable import NumericsEngine

@Suite("Layer backward passes against central finite differences")
struct LayerGradientTests {
    @Test func linearGradients() {
        var rng = SeededRandom(seed: 1)
        let layer = Linear(name: "fc", inFeatures: 5, outFeatures: 4, bias: true, rng: &rng)
        let x = GradCheck.random([2, 3, 5], &rng), r = GradCheck.random([2, 3, 4], &rng)
        let loss = { GradCheck.weightedSum(layer.forward(x), r) }
        _ = layer.forward(x)
        let dx = layer.backward(r)!.clone()
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(layer.weight.value, loss), layer.weight.grad!) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(layer.bias!.value, loss), layer.bias!.grad!) <= 0)
        #expect(dx.shape == [2, 3, 5])
    }

    @Test func linearAccumulatesAndFreezes() {
        var rng = SeededRandom(seed: 2)
        let layer = Linear(name: "fc", inFeatures: 3, outFeatures: 6, bias: false, rng: &rng)
        let x = GradCheck.random([4, 3], &rng), r = GradCheck.random([4, 6], &rng)
        _ = layer.forward(x); layer.backward(r)
        let once = layer.weight.grad!.clone()
        _ = layer.forward(x); layer.backward(r)
        for i in 0..<once.count { #expect(abs(layer.weight.grad![i] - 2 * once[i]) < 1e-5) }

        // Only rows 2..<5 trainable: their gradient equals those rows of the full one.
        layer.weight.setTrainableRows(2..<5)
        _ = layer.forward(x); layer.backward(r)
        for i in 0..<(3 * 3) { #expect(abs(layer.weight.grad![i] - once[2 * 3 + i]) < 1e-5) }

        // Frozen: no gradient buffer, the input gradient is still produced.
        layer.weight.freeze()
        _ = layer.forward(x)
        let dx = layer.backward(r)
        #expect(layer.weight.grad == nil)
        #expect(dx != nil)
        layer.computeInputGradient = false
        _ = layer.forward(x)
        #expect(layer.backward(r) == nil)
    }

    @Test(arguments: [(3, 1, 9, 9), (4, 2, 1, 1), (1, 1, 1, 0), (3, 1, 3, 3), (3, 2, 1, 0)])
    func conv1dGradients(kernel: Int, stride: Int, dilation: Int, padding: Int) {
        var rng = SeededRandom(seed: 3)
        let conv = Conv1d(name: "conv", inChannels: 3, outChannels: 2, kernelSize: kernel, stride: stride,
                          dilation: dilation, padding: padding, rng: &rng)
        let x = GradCheck.random([2, 3, 12], &rng)
        let y = conv.forward(x)
        // Forward against the direct definition.
        let tout = y.shape[2]
        for b in 0..<2 { for co in 0..<2 { for t in 0..<tout {
            var s = Double(conv.bias!.value[co])
            for ci in 0..<3 { for k in 0..<kernel {
                let ti = t * stride + k * dilation - padding
                if ti >= 0 && ti < 12 { s += Double(conv.weight.value[(co * 3 + ci) * kernel + k]) * Double(x[(b * 3 + ci) * 12 + ti]) }
            } }
            #expect(abs(Double(y[(b * 2 + co) * tout + t]) - s) < 1e-4)
        } } }
        let r = GradCheck.random(y.shape, &rng)
        let loss = { GradCheck.weightedSum(conv.forward(x), r) }
        _ = conv.forward(x)
        let dx = conv.backward(r)!.clone()
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(conv.weight.value, loss), conv.weight.grad!) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(conv.bias!.value, loss), conv.bias!.grad!) <= 0)
    }

    @Test func upsampleReluGeluGradients() {
        var rng = SeededRandom(seed: 4)
        let x = GradCheck.random([2, 3, 5], &rng)
        for i in 0..<x.count where abs(x[i]) < 0.05 { x[i] = 0.3 }  // keep ReLU away from its kink
        let up = UpsampleNearest2x(), relu = ReLU(), gelu = GELU()
        let r2 = GradCheck.random([2, 3, 10], &rng), r = GradCheck.random([2, 3, 5], &rng)
        _ = up.forward(x)
        #expect(up.forward(x).shape == [2, 3, 10])
        #expect(GradCheck.violation(GradCheck.numeric(x) { GradCheck.weightedSum(up.forward(x), r2) }, up.backward(r2)) <= 0)
        _ = relu.forward(x)
        #expect(GradCheck.violation(GradCheck.numeric(x) { GradCheck.weightedSum(relu.forward(x), r) }, relu.backward(r).clone()) <= 0)
        _ = gelu.forward(x)
        #expect(GradCheck.violation(GradCheck.numeric(x) { GradCheck.weightedSum(gelu.forward(x), r) }, gelu.backward(r).clone()) <= 0)
        // GELU tanh form at known points.
        #expect(abs(GELUMath.value(1) - 0.8411920) < 1e-6)
        #expect(abs(GELUMath.value(-0.5) - (-0.1542859)) < 1e-6)
    }

    @Test func gatedGeluGradients() {
        var rng = SeededRandom(seed: 5)
        let g = GradCheck.random([3, 7], &rng), u = GradCheck.random([3, 7], &rng), r = GradCheck.random([3, 7], &rng)
        let op = GatedGELU()
        let loss = { GradCheck.weightedSum(op.forward(gate: g, up: u), r) }
        _ = op.forward(gate: g, up: u)
        let (dg, du) = op.backward(r)
        let dgc = dg.clone(), duc = du.clone()
        #expect(GradCheck.violation(GradCheck.numeric(g, loss), dgc) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(u, loss), duc) <= 0)
    }

    @Test(arguments: [Float(0), 1])
    func rmsNormGradients(offset: Float) {
        var rng = SeededRandom(seed: 6)
        // [tokens, heads·headDim] normalised per head (dimension = headDim), like Gemma's q-norm.
        let norm = RMSNorm(name: "q_norm", dimension: 4, epsilon: 1e-6, weightOffset: offset)
        for i in 0..<4 { norm.weight.value[i] = Float(rng.nextGaussian()) * 0.5 }
        let x = GradCheck.random([3, 8], &rng), r = GradCheck.random([3, 8], &rng)
        let y = norm.forward(x)
        // Forward against the definition.
        for row in 0..<6 {
            var ms: Double = 0
            for j in 0..<4 { ms += Double(x[row * 4 + j] * x[row * 4 + j]) / 4 }
            for j in 0..<4 {
                let want = Double(x[row * 4 + j]) / (ms + 1e-6).squareRoot() * Double(norm.weight.value[j] + offset)
                #expect(abs(Double(y[row * 4 + j]) - want) < 1e-5)
            }
        }
        let loss = { GradCheck.weightedSum(norm.forward(x), r) }
        _ = norm.forward(x)
        let dx = norm.backward(r).clone()
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
        #expect(GradCheck.violation(GradCheck.numeric(norm.weight.value, loss), norm.weight.grad!) <= 0)
    }

    @Test func ropeForwardAndBackward() {
        var rng = SeededRandom(seed: 7)
        let rope = RotaryEmbedding(headDim: 6, base: 10_000)
        let positions = [0, 3, 1, 700]
        let x = GradCheck.random([4, 12], &rng), r = GradCheck.random([4, 12], &rng)
        let y = x.clone()
        rope.apply(y, heads: 2, positions: positions)
        // Against the rotate_half definition in Double.
        for t in 0..<4 { for h in 0..<2 { for i in 0..<3 {
            let theta = Double(positions[t]) * pow(10_000.0, -Double(2 * i) / 6)
            let a = Double(x[t * 12 + h * 6 + i]), b = Double(x[t * 12 + h * 6 + i + 3])
            #expect(abs(Double(y[t * 12 + h * 6 + i]) - (a * cos(theta) - b * sin(theta))) < 1e-5)
            #expect(abs(Double(y[t * 12 + h * 6 + i + 3]) - (b * cos(theta) + a * sin(theta))) < 1e-5)
        } } }
        let loss = { () -> Double in let c = x.clone(); rope.apply(c, heads: 2, positions: positions); return GradCheck.weightedSum(c, r) }
        let dx = r.clone()
        rope.applyBackward(dx, heads: 2, positions: positions)
        #expect(GradCheck.violation(GradCheck.numeric(x, loss), dx) <= 0)
    }

    @Test func embeddingRowSubsetGradient() {
        var rng = SeededRandom(seed: 8)
        let emb = Embedding(name: "embed", vocabularySize: 10, dimension: 3, outputScale: 2, rng: &rng)
        let ids = [1, 7, 7, 9, 0]
        let y = emb.forward(ids: ids)
        for (t, id) in ids.enumerated() { for j in 0..<3 { #expect(y[t * 3 + j] == 2 * emb.weight.value[id * 3 + j]) } }
        let r = GradCheck.random([5, 3], &rng)
        // Full gradient against finite differences.
        let loss = { GradCheck.weightedSum(emb.forward(ids: ids), r) }
        _ = emb.forward(ids: ids); emb.backward(r)
        let full = emb.weight.grad!.clone()
        #expect(GradCheck.violation(GradCheck.numeric(emb.weight.value, loss), full) <= 0)
        // Only rows 7..<10 trainable: a [3, 3] gradient equal to those rows.
        emb.weight.setTrainableRows(7..<10)
        #expect(emb.weight.grad!.shape == [3, 3])
        _ = emb.forward(ids: ids); emb.backward(r)
        for i in 0..<9 { #expect(abs(emb.weight.grad![i] - full[21 + i]) < 1e-6) }
    }

    @Test func dropoutAndMSEAndResidual() {
        var rng = SeededRandom(seed: 9)
        let x = GradCheck.random([1000], &rng)
        let drop = Dropout(probability: 0.25)
        var r1 = SeededRandom(seed: 42), r2 = SeededRandom(seed: 42)
        let y1 = drop.forward(x, rng: &r1).clone()
        let kept = (0..<1000).filter { y1[$0] != 0 }.count
        #expect(kept > 700 && kept < 800)
        for i in 0..<1000 where y1[i] != 0 { #expect(abs(y1[i] - x[i] / 0.75) < 1e-6) }
        let y2 = drop.forward(x, rng: &r2)
        #expect(y2.scalars == y1.scalars)  // same seed, same mask
        let ones = Tensor(shape: [1000], repeating: 1)
        let dx = drop.backward(ones)
        for i in 0..<1000 { #expect(dx[i] == (y1[i] == 0 ? 0 : 1 / 0.75)) }
        drop.isTraining = false
        #expect(drop.forward(x, rng: &r1) === x)

        let p = GradCheck.random([4, 3], &rng), t = GradCheck.random([4, 3], &rng)
        let mse = MSELoss()
        _ = mse.forward(prediction: p, target: t)
        let g = mse.backward().clone()
        let num = GradCheck.numeric(p) { Double(mse.forward(prediction: p, target: t)) }
        #expect(GradCheck.violation(num, g) <= 0)

        let res = ResidualAdd()
        let s = res.forward(p, t)
        for i in 0..<12 { #expect(s[i] == p[i] + t[i]) }
        let (da, db) = res.backward(ones)
        #expect(da === ones && db === ones)
    }
}
