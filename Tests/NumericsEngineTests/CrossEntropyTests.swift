import BiomechCore
import Foundation
import GradientChecking
import Testing
@testable import NumericsEngine

/// Unchunked softmax cross-entropy in Double: (mean loss, dHidden, dW).
private func referenceCrossEntropy(hidden: Tensor, weight: Tensor, targets: [Int], mask: [Bool]?) -> (Double, [Double], [Double]) {
    let n = hidden.rowCount, d = hidden.lastDimension, vocab = weight.shape[0]
    let counted = (0..<n).filter { targets[$0] >= 0 && (mask?[$0] ?? true) }
    var loss = 0.0
    var dh = [Double](repeating: 0, count: n * d), dw = [Double](repeating: 0, count: vocab * d)
    for t in counted {
        var logits = [Double](repeating: 0, count: vocab)
        for v in 0..<vocab { for j in 0..<d { logits[v] += Double(hidden[t * d + j]) * Double(weight[v * d + j]) } }
        let mx = logits.max()!
        let z = logits.reduce(0) { $0 + exp($1 - mx) }
        loss += mx + log(z) - logits[targets[t]]
        for v in 0..<vocab {
            let g = (exp(logits[v] - mx) / z - (v == targets[t] ? 1 : 0)) / Double(counted.count)
            for j in 0..<d {
                dh[t * d + j] += g * Double(weight[v * d + j])
                dw[v * d + j] += g * Double(hidden[t * d + j])
            }
        }
    }
    return (loss / Double(counted.count), dh, dw)
}

@Suite("Chunked cross-entropy")
struct CrossEntropyTests {
    @Test(arguments: [8, 5, 64])
    func chunkedMatchesUnchunked(chunk: Int) {
        var rng = SeededRandom(seed: 21)
        let n = 6, d = 5, vocab = 37
        let hidden = GradCheck.random([n, d], &rng), weight = Parameter(name: "embed.weight", value: GradCheck.random([vocab, d], &rng))
        let targets = [3, 36, -1, 0, 17, 8], mask = [true, true, true, false, true, true]
        let ce = ChunkedCrossEntropy(chunkSize: chunk)
        let (loss, dh) = ce.lossAndGradient(hidden: hidden, weight: weight, targets: targets, mask: mask)
        let (refLoss, refDh, refDw) = referenceCrossEntropy(hidden: hidden, weight: weight.value, targets: targets, mask: mask)
        #expect(ce.countedPositions == 4)
        #expect(abs(Double(loss) - refLoss) < 1e-5)
        // Per-row losses: each counted row alone against the reference, uncounted rows 0.
        for t in 0..<n {
            let counted = targets[t] >= 0 && mask[t]
            let alone = counted ? referenceCrossEntropy(hidden: hidden, weight: weight.value, targets: targets,
                                                        mask: (0..<n).map { $0 == t }).0 : 0
            #expect(abs(Double(ce.rowLosses[t]) - alone) < 1e-5)
        }
        for i in 0..<dh.count { #expect(abs(Double(dh[i]) - refDh[i]) < 1e-5) }
        for i in 0..<refDw.count { #expect(abs(Double(weight.grad![i]) - refDw[i]) < 1e-5) }
        #expect(abs(ce.loss(hidden: hidden, weight: weight.value, targets: targets, mask: mask) - loss) < 1e-6)

        // Only the last rows trainable (new tokens): a row-subset gradient.
        weight.setTrainableRows(30..<37)
        _ = ce.lossAndGradient(hidden: hidden, weight: weight, targets: targets, mask: mask, gradScale: 2)
        for i in 0..<(7 * d) { #expect(abs(Double(weight.grad![i]) - 2 * refDw[30 * d + i]) < 1e-5) }
    }

    @Test func hiddenGradientAgainstFiniteDifferences() {
        var rng = SeededRandom(seed: 22)
        let hidden = GradCheck.random([4, 6], &rng), weight = Parameter(name: "w", value: GradCheck.random([50, 6], &rng), isTrainable: false)
        let targets = [1, 49, 20, 7]
        let ce = ChunkedCrossEntropy(chunkSize: 16)
        let dh = ce.lossAndGradient(hidden: hidden, weight: weight, targets: targets).gradHidden.clone()
        let num = GradCheck.numeric(hidden) { Double(ce.loss(hidden: hidden, weight: weight.value, targets: targets)) }
        #expect(GradCheck.violation(num, dh) <= 0)
        #expect(weight.grad == nil)
    }

    @Test func largeLogitsStayFinite() {
        let hidden = Tensor(shape: [1, 2], values: [100, 0])
        let weight = Parameter(name: "w", value: Tensor(shape: [3, 2], values: [1, 0, 0.5, 0, -1, 0]), isTrainable: false)
        let loss = ChunkedCrossEntropy(chunkSize: 1).loss(hidden: hidden, weight: weight.value, targets: [1])
        // logits 100, 50, -100: loss ≈ 50
        #expect(abs(loss - 50) < 1e-3)
    }
}
