import BiomechCore
import Foundation
import NumericsEngine
import Testing
@testable import Gemma3Backbone

/// Scoring several continuations after one cached prefix, against the full forward of
/// each prefix + continuation as its own sequence.
@Suite("Gemma 3 continuation scoring (tiny random configuration)")
struct ContinuationScoringTests {
    /// −log-softmax of `row` at `target`, in Double.
    func negativeLogProbability(_ row: ArraySlice<Float>, _ target: Int) -> Double {
        let x = row.map(Double.init), top = x.max()!
        return top + log(x.reduce(0) { $0 + exp($1 - top) }) - x[target]
    }

    /// The summed −log-likelihood of `continuation` after `prefix` from one full forward.
    func referenceLoss(_ model: Gemma3Model, prefix: [Int], continuation: [Int]) -> Double {
        let tokens = prefix + continuation
        model.forward(Gemma3Batch([tokens]))
        let v = model.vocabularySize, logits = model.logits(rows: Array(0..<tokens.count)).scalars
        return (prefix.count..<tokens.count).reduce(0.0) { sum, i in
            sum + negativeLogProbability(logits[((i - 1) * v)..<(i * v)], tokens[i])
        }
    }

    @Test func scoresEqualEachSequencesFullForward() throws {
        let model = try tinyModel()
        var rng = SeededRandom(seed: 11)
        // The prefix is longer than the sliding window (4); continuations of 1 to 5 tokens.
        let prefix = (0..<20).map { _ in rng.nextInt(below: 50) }
        var continuations = [1, 3, 5, 2, 3].map { n in (0..<n).map { _ in rng.nextInt(below: 50) } }
        // Shared token prefixes (a trie), a continuation that begins another, and a repeat.
        continuations += [[4, 7, 9], [4, 7, 2, 2], [4, 1], [4], [8, 3], [4, 7, 9], [4, 7, 2, 6, 6, 1]]
        let scorer = Gemma3ContinuationScorer(model: model)
        let scores = scorer.losses(prefix: prefix, continuations: continuations)
        #expect(scores.count == continuations.count)
        for (score, continuation) in zip(scores, continuations) {
            let reference = referenceLoss(model, prefix: prefix, continuation: continuation)
            #expect(abs(score - reference) <= 1e-4 * max(1, abs(reference)), "\(score) vs \(reference)")
        }
        // The cache is reused for the next, shorter question and gives its scores.
        let firstCache = try #require(scorer.cache)
        let again = scorer.losses(prefix: Array(prefix.prefix(9)), continuations: continuations)
        #expect(scorer.cache === firstCache)
        #expect(scorer.losses(prefix: prefix, continuations: []).isEmpty)
        for i in [2, 6, 11] {
            let reference = referenceLoss(model, prefix: Array(prefix.prefix(9)), continuation: continuations[i])
            #expect(abs(again[i] - reference) <= 1e-4 * max(1, abs(reference)))
        }
        // A prefix longer than the chunk: pre-filled in chunks before the forward of its tail
        // and the answers (chunk 8: a tail of 2; the sliding ring of 12 slots wraps), or with
        // no tail at all (chunk 6, the longest continuation).
        for chunk in [8, 6] {
            scorer.prefillChunk = chunk
            let long = scorer.losses(prefix: prefix, continuations: continuations)
            for (score, original) in zip(long, scores) { #expect(abs(score - original) <= 1e-4 * max(1, abs(original)), "chunk \(chunk)") }
        }
    }

    /// Runs of positions that restart where the prefix ends, with a sliding-window ring that
    /// wraps (window 4, chunk 3: 7 slots), then a rewind and one more token.
    @Test func branchesOverAWrappingRingThenRewind() throws {
        let model = try tinyModel(seed: 2)
        var rng = SeededRandom(seed: 12)
        let prefix = (0..<20).map { _ in rng.nextInt(below: 50) }
        let a = [5, 9, 13], b = [7, 2]
        let cache = Gemma3KVCache(configuration: model.configuration, maxLength: 24, chunk: 3)
        model.prefill(prefix, cache: cache)
        let hidden = model.cachedForward(a + b, positions: [20, 21, 22, 20, 21], cache: cache)
        let ours = model.logits(rows: Array(0..<5), hidden: hidden).scalars
        let v = model.vocabularySize
        for (branch, rows) in [(a, 0..<3), (b, 3..<5)] {
            model.forward(Gemma3Batch([prefix + branch]))
            let full = model.logits(rows: Array(20..<(20 + branch.count))).scalars
            for (i, row) in rows.enumerated() {
                var worst: Float = 0
                for j in 0..<v { worst = max(worst, abs(ours[row * v + j] - full[i * v + j])) }
                #expect(worst < 1e-4, "branch row \(row): max difference \(worst)")
            }
        }
        cache.rewind(to: 20)
        #expect(cache.length == 20)
        let next = model.decode(31, cache: cache).scalars
        model.forward(Gemma3Batch([prefix + [31]]))
        let full = model.logits(rows: [20]).scalars
        #expect(zip(next, full).map { abs($0 - $1) }.max()! < 1e-4)
    }

    @Test func backboneChecksItsInputs() throws {
        let b = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel(), contextLength: 16)
        let v = b.vocabularySize
        func field(_ body: () throws -> Void) -> String? { (#expect(throws: InputError.self) { try body() })?.field }
        #expect(field { _ = try b.continuationLosses(prefix: [], continuations: [[1]], prefixVectors: nil) } == "continuations")
        #expect(field { _ = try b.continuationLosses(prefix: [1], continuations: [[1], []], prefixVectors: nil) } == "continuations")
        #expect(field { _ = try b.continuationLosses(prefix: [1], continuations: [[v]], prefixVectors: nil) } == "tokens")
        #expect(field { _ = try b.continuationLosses(prefix: Array(repeating: 1, count: 12), continuations: [[1], [1, 2, 3, 4, 5]],
                                                     prefixVectors: nil) } == "context_length")
        #expect(try b.continuationLosses(prefix: [1], continuations: [], prefixVectors: nil).isEmpty)
        // Through the backbone: the same scores as its batched sequence losses.
        let prefix = [3, 8, 1, 9], continuations = [[4, 2], [7], [6, 6, 5]]
        let shared = try b.continuationLosses(prefix: prefix, continuations: continuations, prefixVectors: nil)
        let separate = try b.sequenceLosses(tokens: continuations.map { prefix + $0 },
                                            lossMask: continuations.map { c in prefix.map { _ in false } + c.map { _ in true } }, vectors: nil)
        for (x, y) in zip(shared, separate) { #expect(abs(x - y) <= 1e-4 * max(1, abs(y)), "\(x) vs \(y)") }
        // With an input vector in place of the prefix's second token.
        let d = b.embeddingWidth
        var rng = SeededRandom(seed: 13)
        let vector = Tensor(shape: [1, d], values: (0..<d).map { _ in Float(rng.nextGaussian()) })
        let withVector = try b.continuationLosses(prefix: prefix, continuations: continuations,
                                                  prefixVectors: InputVectorRows(sequences: [0], indices: [1], values: vector))
        let repeated = Tensor(shape: [3, d], values: Array(repeating: vector.scalars, count: 3).flatMap { $0 })
        let separateWithVector = try b.sequenceLosses(tokens: continuations.map { prefix + $0 },
                                                      lossMask: continuations.map { c in prefix.map { _ in false } + c.map { _ in true } },
                                                      vectors: InputVectorRows(sequences: [0, 1, 2], indices: [1, 1, 1], values: repeated))
        for (x, y) in zip(withVector, separateWithVector) { #expect(abs(x - y) <= 1e-4 * max(1, abs(y)), "\(x) vs \(y)") }
        #expect(zip(withVector, shared).contains { abs($0 - $1) > 1e-3 }, "the vector changes the scores")
        #expect(field { _ = try b.continuationLosses(prefix: prefix, continuations: continuations,
                                                     prefixVectors: InputVectorRows(sequences: [1], indices: [1], values: vector)) } == "vectors")
    }
    /// Generation then scoring from the generation's cache: the same tokens as `generate`
    /// and the same scores as `continuationLosses`, with and without an input vector, with a
    /// continuation longer than the generation's room, after a generation stopped early, and
    /// falling back to scoring from scratch when no token is generated.
    @Test func generateThenScoreEqualsGenerateAndThenScoring() throws {
        let b = try Gemma3LanguageBackbone(preset: "tiny", tokenizer: Gemma3TextTokenizer.byteLevel(), contextLength: 64)
        var rng = SeededRandom(seed: 14)
        let prompt = (0..<21).map { _ in 10 + rng.nextInt(below: 300) }
        let continuations = [[40, 41], [40, 52, 53, 54, 55, 56, 57, 58], [70], [40, 41, 42]]
        let d = b.embeddingWidth
        let vector = (0..<d).map { _ in Float(rng.nextGaussian()) }
        for withVector in [false, true] {
            let input = withVector ? BackboneInput(tokens: prompt, vectorPositions: [3], vectors: vector) : BackboneInput(tokens: prompt)
            let rows = withVector ? InputVectorRows(sequences: [0], indices: [3], values: Tensor(shape: [1, d], values: vector)) : nil
            let reference = try b.continuationLosses(prefix: prompt, continuations: continuations, prefixVectors: rows)
            for (maxNewTokens, stopAfter) in [(5, Int.max), (5, 2), (0, Int.max)] {
                let options = GenerationOptions(maxNewTokens: maxNewTokens)
                var streamed = 0
                let alone = try b.generate(input, options: options) { _ in streamed += 1; return streamed < stopAfter }
                streamed = 0
                let (generated, losses) = try b.generateThenScore(input, options: options, continuations: continuations) { _ in
                    streamed += 1; return streamed < stopAfter
                }
                #expect(generated == alone, "max \(maxNewTokens), stop after \(stopAfter), vector \(withVector)")
                #expect(generated.count == min(maxNewTokens, stopAfter) || generated.last.map(b.stopTokens.contains) == true)
                for (x, y) in zip(losses, reference) {
                    #expect(abs(x - y) <= 1e-4 * max(1, abs(y)), "\(x) vs \(y): max \(maxNewTokens), vector \(withVector)")
                }
                #expect(losses.count == continuations.count)
            }
        }
        // The scoring left the prompt in the cache: the next generation starts afresh and agrees.
        let again = try b.generate(BackboneInput(tokens: prompt), options: .init(maxNewTokens: 5)) { _ in true }
        #expect(try b.generateThenScore(BackboneInput(tokens: prompt), options: .init(maxNewTokens: 5), continuations: []) { _ in true }
            .generated == again)
        let refused = #expect(throws: InputError.self) {
            try b.generateThenScore(BackboneInput(tokens: prompt), options: .init(maxNewTokens: 5), continuations: [[1], []]) { _ in true }
        }
        #expect(refused?.field == "continuations")
        let tooLong = #expect(throws: InputError.self) {
            try b.generateThenScore(BackboneInput(tokens: prompt), options: .init(maxNewTokens: 64), continuations: [[1]]) { _ in true }
        }
        #expect(tooLong?.field == "max_new_tokens")
    }
}
