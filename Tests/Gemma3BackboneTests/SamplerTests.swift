import BiomechCore
import Foundation
import Testing
@testable import Gemma3Backbone

@Suite("Gemma 3 sampler")
struct SamplerTests {
    let logits: [Float] = [1.0, 3.0, 0.5, 2.0, -1.0]

    /// Frequencies of `draws` samples.
    func frequencies(_ options: GenerationOptions, draws: Int = 20_000) -> [Double] {
        var sampler = Gemma3Sampler(options: options)
        var counts = [Double](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { p in
            for _ in 0..<draws { counts[sampler.next(p.baseAddress!, count: logits.count)] += 1 }
        }
        return counts.map { $0 / Double(draws) }
    }

    /// softmax(logits / T) over `ids`, zero elsewhere.
    func expected(temperature: Double, ids: [Int]) -> [Double] {
        let w = logits.indices.map { ids.contains($0) ? exp(Double(logits[$0]) / temperature) : 0 }
        let total = w.reduce(0, +)
        return w.map { $0 / total }
    }

    @Test func greedyIsTheArgmax() {
        #expect(frequencies(GenerationOptions(temperature: 0), draws: 10) == [0, 1, 0, 0, 0])
        #expect(Gemma3Sampler.topK([2, 5, 5, 1], count: 4, k: 3) == [1, 2, 0])
    }

    @Test func temperatureSamplesTheSoftmax() {
        for t in [0.7, 1.5] {
            let f = frequencies(GenerationOptions(temperature: t, seed: 3))
            for (a, b) in zip(f, expected(temperature: t, ids: Array(logits.indices))) { #expect(abs(a - b) < 0.015, "T \(t): \(f)") }
        }
    }

    @Test func topKAndTopPRestrictTheCandidates() {
        // top-k 2: ids 1 and 3 only, in softmax proportion.
        let k = frequencies(GenerationOptions(temperature: 1, topK: 2, seed: 4))
        for (a, b) in zip(k, expected(temperature: 1, ids: [1, 3])) { #expect(abs(a - b) < 0.015, "\(k)") }
        // top-p: probabilities ≈ 0.61 (id 1), 0.22 (id 3), …; p 0.7 keeps ids 1 and 3.
        let p = frequencies(GenerationOptions(temperature: 1, topP: 0.7, seed: 5))
        for (a, b) in zip(p, expected(temperature: 1, ids: [1, 3])) { #expect(abs(a - b) < 0.015, "\(p)") }
    }

    @Test func theSameSeedGivesTheSameDraws() {
        #expect(frequencies(GenerationOptions(temperature: 1, seed: 9), draws: 200)
            == frequencies(GenerationOptions(temperature: 1, seed: 9), draws: 200))
    }
}
