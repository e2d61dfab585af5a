import Foundation
import GGUF
import NumericsEngine
import Testing
@testable import Gemma3Backbone

/// The real model, loaded once (nil when the file is missing; the reason is printed).
enum RealModel {
    nonisolated(unsafe) private static let loaded: Result<Gemma3Model?, any Error> = Result {
        guard let url = TestPaths.realModel(for: "real-model forward tests") else { return nil }
        let file = try GGUFFile(url: url)
        return try Gemma3Model(configuration: Gemma3Configuration(gguf: file), weights: GGUFWeights(file: file))
    }
    static func load() throws -> Gemma3Model? { try loaded.get() }
}

@Suite("Gemma 3 270M against transformers", .serialized)
struct RealModelForwardTests {
    @Test("logits at every position of the fixture prompts match transformers")
    func fixtureLogits() throws {
        guard let model = try RealModel.load() else { return }
        let f = try LogitFixture.load()
        var worstRelative = 0.0, worstAbsolute = 0.0
        for p in f.prompts {
            let batch = Gemma3Batch([p.token_ids])
            model.forward(batch)
            let logits = model.logits(rows: Array(0..<p.token_ids.count))
            let v = model.vocabularySize
            for (t, ref) in p.positions.enumerated() {
                let row = Array(UnsafeBufferPointer(start: logits.data + t * v, count: v))
                var mean = 0.0, sq = 0.0
                for x in row { mean += Double(x) }
                mean /= Double(v)
                for x in row { sq += (Double(x) - mean) * (Double(x) - mean) }
                let std = (sq / Double(v)).squareRoot()
                let tolerance = 1e-3 * ref.range
                // Values at the reference's top-20 ids.
                for (id, value) in zip(ref.top_ids, ref.top_logits) {
                    let diff = abs(Double(row[id]) - value)
                    worstAbsolute = max(worstAbsolute, diff)
                    worstRelative = max(worstRelative, diff / ref.range)
                    #expect(diff < tolerance, "\(p.name) position \(t) id \(id): \(row[id]) vs \(value)")
                }
                // Our top-20 ids in order, where the reference's values are not tied.
                let ours = row.indices.sorted { row[$0] > row[$1] }.prefix(ref.top_ids.count)
                for (k, id) in ours.enumerated() where id != ref.top_ids[k] {
                    let tiedBefore = k > 0 && abs(ref.top_logits[k] - ref.top_logits[k - 1]) < 1e-4
                    let tiedAfter = k + 1 < ref.top_logits.count && abs(ref.top_logits[k] - ref.top_logits[k + 1]) < 1e-4
                    let lastAndTiedWithNext = k == ref.top_ids.count - 1
                        && abs(Double(row[id]) - ref.top_logits[k]) < 1e-3
                    #expect(tiedBefore || tiedAfter || lastAndTiedWithNext,
                            "\(p.name) position \(t) rank \(k): id \(id), reference \(ref.top_ids[k])")
                }
                #expect(abs(mean - ref.mean) < tolerance, "\(p.name) position \(t) mean \(mean) vs \(ref.mean)")
                #expect(abs(std - ref.std) < tolerance, "\(p.name) position \(t) std \(std) vs \(ref.std)")
            }
        }
        print("Gemma 3 fixture logits: max |Δ| = \(worstAbsolute), max |Δ|/range = \(worstRelative)")
    }

    @Test("the greedy continuation of 'The knee joint' equals transformers'")
    func greedyContinuation() throws {
        guard let model = try RealModel.load() else { return }
        let f = try LogitFixture.load()
        let generator = Gemma3Generator(model: model)
        let ids = generator.generate(prompt: f.greedy.prompt_ids, options: .init(maxNewTokens: f.greedy.new_token_ids.count),
                                     stopTokens: [])
        #expect(ids == f.greedy.new_token_ids)
    }

    @Test("batched padded forward equals per-sequence forward (real model)")
    func batchedPadded() throws {
        guard let model = try RealModel.load() else { return }
        let f = try LogitFixture.load()
        let seqs = [f.prompts[0].token_ids, Array(f.prompts[1].token_ids.prefix(20))]
        var singles: [[Float]] = []
        for s in seqs {
            model.forward(Gemma3Batch([s]))
            singles.append(model.logits(rows: [s.count - 1]).scalars)
        }
        for padding in [Gemma3Batch.Padding.left, .right] {
            let batch = Gemma3Batch(seqs, padding: padding)
            model.forward(batch)
            let both = model.logits(rows: batch.lastRows)
            let v = model.vocabularySize
            for b in 0..<2 {
                var worst: Float = 0
                for j in 0..<v { worst = max(worst, abs(both.data[b * v + j] - singles[b][j])) }
                #expect(worst < 2e-3, "\(padding) sequence \(b): max difference \(worst)")
            }
        }
    }
}
