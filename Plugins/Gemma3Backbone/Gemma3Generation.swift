import BiomechCore
import Foundation
import NumericsEngine

/// Next-token choice from a logit row: greedy (`temperature == 0`), or sampling with
/// temperature, top-k and top-p (nucleus) from a ``SeededRandom``.
public struct Gemma3Sampler {
    public var options: GenerationOptions
    public var rng: SeededRandom

    public init(options: GenerationOptions) {
        self.options = options
        rng = SeededRandom(seed: options.seed).derived("gemma3.sampling")
    }

    /// The arg-max (the lowest id among equal maxima, as `torch.argmax`).
    public static func argmax(_ p: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0, bestValue = p[0]
        for i in 1..<count where p[i] > bestValue { best = i; bestValue = p[i] }
        return best
    }

    public mutating func next(_ logits: UnsafePointer<Float>, count v: Int) -> Int {
        if options.temperature <= 0 { return Self.argmax(logits, count: v) }
        let invT = Float(1 / options.temperature)
        // Candidates: the top-k ids by logit when top-k is set, all ids sorted by logit when
        // top-p needs the order, otherwise all ids as they come (no sort of the vocabulary).
        let candidates: [Int]
        if options.topK > 0 && options.topK < v {
            candidates = Self.topK(logits, count: v, k: options.topK)
        } else if options.topP < 1 {
            candidates = (0..<v).sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        } else {
            candidates = Array(0..<v)
        }
        var mx = -Float.infinity
        for c in candidates { mx = Swift.max(mx, logits[c]) }
        var probs = candidates.map { Double(FastMath.exp((logits[$0] - mx) * invT)) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        var keep = probs.count
        if options.topP < 1 {  // candidates are sorted here
            var cumulative = 0.0
            for i in probs.indices {
                cumulative += probs[i]
                if cumulative >= options.topP { keep = i + 1; break }
            }
        }
        let mass = probs[0..<keep].reduce(0, +)
        var u = rng.nextDouble() * mass
        for i in 0..<keep {
            u -= probs[i]
            if u < 0 { return candidates[i] }
        }
        return candidates[keep - 1]
    }

    /// The `k` ids of largest logit, largest first (ties: lower id first); one pass with a
    /// sorted insertion into a `k`-long list.
    static func topK(_ logits: UnsafePointer<Float>, count v: Int, k: Int) -> [Int] {
        var top: [Int] = []
        top.reserveCapacity(k + 1)
        func before(_ a: Int, _ b: Int) -> Bool { logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }
        for i in 0..<v {
            if top.count == k, !before(i, top[k - 1]) { continue }
            var lo = 0, hi = top.count
            while lo < hi { let mid = (lo + hi) / 2; if before(top[mid], i) { lo = mid + 1 } else { hi = mid } }
            top.insert(i, at: lo)
            if top.count > k { top.removeLast() }
        }
        return top
    }
}

/// Timings of the last ``Gemma3Generator/generate(prompt:options:stopTokens:vectors:onToken:)``.
public struct Gemma3GenerationStats: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    /// Seconds for the prompt (prefill and the first token's logits).
    public var prefillSeconds = 0.0
    /// Seconds for the decoding steps after the first token.
    public var decodeSeconds = 0.0
}

/// Generation with a KV cache: the prompt is pre-filled in chunks (every product batched
/// over the chunk's tokens), then each new token is one cached step; only the last
/// position's logits are computed.
public final class Gemma3Generator {
    public let model: Gemma3Model
    public private(set) var cache: Gemma3KVCache?
    public private(set) var stats = Gemma3GenerationStats()
    /// Tokens per pre-fill chunk.
    public var prefillChunk = 512
    private var cacheChunk = 0
    /// The last prompt position's final-normed hidden state of the last generation (empty
    /// before one): with `cache` rewound to the prompt, what scoring continuations of the
    /// same prompt starts from (``Gemma3ContinuationScorer/losses(continuations:afterPrefixOf:lastState:cache:)``).
    public private(set) var promptLastState: [Float] = []

    public init(model: Gemma3Model) { self.model = model }

    /// Generates up to `options.maxNewTokens` tokens after `prompt`, stopping after a
    /// token in `stopTokens` (which is included in the result) or when `onToken` returns
    /// false. Returns the new token ids. The cache keeps room for `reservingPositions`
    /// positions after the prompt when that is more than `maxNewTokens` (for scoring
    /// continuations of the prompt afterwards).
    public func generate(prompt: [Int], options: GenerationOptions, stopTokens: Set<Int>,
                         vectors: Gemma3InputVectors? = nil, reservingPositions: Int = 0,
                         onToken: (Int) -> Bool = { _ in true }) -> [Int] {
        precondition(!prompt.isEmpty, "generate: empty prompt")
        stats = Gemma3GenerationStats(promptTokens: prompt.count)
        promptLastState = []
        guard options.maxNewTokens > 0 else { return [] }
        let needed = prompt.count + Swift.max(options.maxNewTokens, reservingPositions)
        let c: Gemma3KVCache
        if let existing = cache, existing.maxLength >= needed, cacheChunk == prefillChunk {
            existing.reset(); c = existing
        } else {
            c = Gemma3KVCache(configuration: model.configuration, maxLength: needed, chunk: prefillChunk)
            cache = c; cacheChunk = prefillChunk
        }
        var sampler = Gemma3Sampler(options: options)
        let clock = ContinuousClock()
        var start = clock.now
        let h = model.prefill(prompt, cache: c, vectors: vectors)
        promptLastState = Array(UnsafeBufferPointer(start: h.data, count: model.hiddenSize))
        var logits = model.logits(rows: [0], hidden: h)
        var out: [Int] = []
        let v = model.vocabularySize
        while true {
            let id = sampler.next(logits.data, count: v)
            out.append(id)
            if out.count == 1 {
                stats.prefillSeconds = (clock.now - start).inSeconds
                start = clock.now
            }
            stats.generatedTokens = out.count
            if !onToken(id) || stopTokens.contains(id) || out.count >= options.maxNewTokens { break }
            logits = model.decode(id, cache: c)
        }
        stats.decodeSeconds = out.count > 1 ? (clock.now - start).inSeconds : 0
        return out
    }
}
