import NumericsEngine

/// Log-likelihoods of several continuations of one prefix — a question's answer
/// candidates — computing the prefix, and every token prefix the continuations share,
/// once.
///
/// The prefix fills a KV cache. The continuations form a trie (one node per distinct
/// token prefix: "The exercise is sit to stand." and "The exercise is side lunge." share
/// the nodes of "The exercise is"). The nodes that are followed by another token run in one
/// forward (of at most `prefillChunk` rows; more when there are more), with the prefix's
/// last tokens, in depth-first order, at the positions after the prefix; each stretch of
/// positions that restarts at a smaller depth overwrites the slots of the branch before it,
/// so every node attends the prefix and its own ancestors only
/// (``Gemma3KVCache/LayerCache/appendAndAttend(keys:values:queries:positions:queryHeads:scale:into:)``).
/// Each such node's final state then goes through the output head once: the log-normaliser
/// over the vocabulary is shared by all its children. Finally the cache is rewound to the
/// prefix.
///
/// Scoring prefix + continuation as separate sequences computes the prefix once per
/// candidate instead, and the vocabulary normaliser once per candidate token.
public final class Gemma3ContinuationScorer {
    public let model: Gemma3Model
    public private(set) var cache: Gemma3KVCache?
    /// The chunk `cache` was made for (the cache stores it capped at its length).
    private var cacheChunk = 0
    /// Most tokens per forward for a long prefix (the KV cache's chunk), raised to the
    /// longest continuation.
    public var prefillChunk = 512

    public init(model: Gemma3Model) { self.model = model }

    /// Each continuation's summed negative log-likelihood (nats) after `prefix`:
    /// −log p(c₀ | prefix) − Σᵢ log p(cᵢ | prefix, c₀ … cᵢ₋₁). `vectors` rows index `prefix`.
    /// The prefix and every continuation must be non-empty (the caller checks).
    public func losses(prefix: [Int], continuations: [[Int]], vectors: Gemma3InputVectors? = nil) -> [Double] {
        precondition(!prefix.isEmpty && continuations.allSatisfy { !$0.isEmpty }, "continuation scoring: empty prefix or continuation")
        guard !continuations.isEmpty else { return [] }
        let trie = ContinuationTrie(continuations)
        // A stretch may overwrite sliding-window slots only beyond the window of its queries:
        // the ring holds `chunk` slots past the window, so the chunk covers the deepest one.
        let chunk = Swift.max(prefillChunk, trie.longest)
        let c: Gemma3KVCache
        if let existing = cache, existing.maxLength >= prefix.count + trie.longest, cacheChunk == chunk {
            existing.reset(); c = existing
        } else {
            c = Gemma3KVCache(configuration: model.configuration, maxLength: prefix.count + trie.longest, chunk: chunk)
            cache = c; cacheChunk = chunk
        }
        // The prefix's last `tail` tokens and the nodes run in the same forward (a forward has
        // a fixed cost: every weight is read, quantized ones unpacked); the first stretch, the
        // tail and the first branch, stays within the chunk. The rest of the prefix first.
        let tail = Swift.min(prefix.count, chunk - trie.longest)
        let lead = prefix.count - tail
        var lastState: [Float]? = nil
        if tail == 0 {
            let h = model.prefill(prefix, cache: c, vectors: vectors)
            lastState = Array(UnsafeBufferPointer(start: h.data, count: model.hiddenSize))
        } else if lead > 0 {
            model.prefill(Array(prefix[..<lead]), cache: c, vectors: vectors?.rows(in: 0..<lead))
        }
        return score(trie, prefixLength: prefix.count, tail: Array(prefix[lead...]),
                     tailVectors: tail > 0 ? vectors?.rows(in: lead..<prefix.count) : nil,
                     lastState: lastState, cache: c, chunk: chunk)
    }

    /// Each continuation's summed negative log-likelihood after a prefix of `prefixLength`
    /// tokens that `cache` already holds (its length), whose last final-normed hidden state
    /// is `lastState` — as a generation after the same prompt leaves them
    /// (``Gemma3Generator/promptLastState``). Only the continuations' nodes run; the cache is
    /// left holding the prefix. `cache` must have room for the longest continuation, and its
    /// chunk must cover it (the caller checks).
    public func losses(continuations: [[Int]], afterPrefixOf prefixLength: Int, lastState: [Float],
                       cache c: Gemma3KVCache) -> [Double] {
        precondition(continuations.allSatisfy { !$0.isEmpty }, "continuation scoring: empty continuation")
        guard !continuations.isEmpty else { return [] }
        let trie = ContinuationTrie(continuations)
        precondition(c.length == prefixLength && prefixLength > 0 && lastState.count == model.hiddenSize
                     && c.maxLength >= prefixLength + trie.longest && c.chunk >= trie.longest,
                     "continuation scoring: the cache does not hold a prefix of \(prefixLength) with room for \(trie.longest) more")
        return score(trie, prefixLength: prefixLength, tail: [], tailVectors: nil, lastState: lastState, cache: c, chunk: c.chunk)
    }

    /// The nodes of `trie` (after the prefix's last `tail` tokens, when given) through the
    /// cache, then one cross-entropy row per node followed by a token. `lastState` is the
    /// prefix's last state when `tail` is empty.
    private func score(_ trie: ContinuationTrie, prefixLength: Int, tail: [Int], tailVectors: Gemma3InputVectors?,
                       lastState: [Float]?, cache c: Gemma3KVCache, chunk: Int) -> [Double] {
        let nodes = trie.nodes, order = trie.order, d = model.hiddenSize
        // Head rows: 0 is the prefix's last state, 1 + k the k-th node of `order`.
        let hidden = Tensor(shape: [1 + order.count, d])
        if let lastState { hidden.data.update(from: lastState, count: d) }
        let inputs = tail + order.map { nodes[$0].token }
        // At most `chunk` rows per forward (bounds the activations of many long answers): a
        // stretch cut between two forwards goes on from the keys the first one cached.
        let positions = Array((prefixLength - tail.count)..<prefixLength) + order.map { prefixLength + nodes[$0].depth }
        var start = 0
        while start < inputs.count {
            let end = Swift.min(inputs.count, start + chunk)
            let states = model.cachedForward(Array(inputs[start..<end]), positions: Array(positions[start..<end]),
                                             vectors: start < tail.count ? tailVectors?.rows(in: start..<Swift.min(end, tail.count)) : nil,
                                             cache: c)
            // Rows from the tail's last on — the prefix's last state, then the nodes' — are
            // head rows; with no tail, row 0 is `lastState` and the nodes start at row 1.
            let offset = tail.isEmpty ? 1 : 1 - tail.count
            for i in start..<end where i + offset >= 0 {
                (hidden.data + (i + offset) * d).update(from: states.data + (i - start) * d, count: d)
            }
            start = end
        }
        // The prefix stays cached; the nodes' slots are forgotten.
        c.settle(at: prefixLength)

        // One cross-entropy row per head row, against its first child; a second child's loss
        // differs from it by the difference of their logits (the normaliser is the row's).
        var headRow = [Int](repeating: -1, count: nodes.count)
        for (k, n) in order.enumerated() { headRow[n] = 1 + k }
        let firstChildren = [trie.rootChildren[0]] + order.map { nodes[$0].children[0] }
        let rowLosses = model.rowLosses(hidden: hidden, targets: firstChildren.map { nodes[$0].token })
        let head = model.embeddingWeight.value.data
        func logit(_ row: Int, _ token: Int) -> Double { Double(BLAS.dot(hidden.data + row * d, head + token * d, count: d)) }
        return trie.paths.map { path in
            var total = 0.0, row = 0
            for node in path {
                let first = firstChildren[row]
                total += Double(rowLosses[row])
                if node != first { total += logit(row, nodes[first].token) - logit(row, nodes[node].token) }
                row = headRow[node]
            }
            return total
        }
    }
}

/// The continuations of one prefix as a trie: one node per distinct token prefix, so
/// shared beginnings run once.
struct ContinuationTrie {
    /// A node: the last token of a distinct prefix of some continuation.
    struct Node {
        var token: Int
        var depth: Int
        /// Child node indices in first-seen order.
        var children: [Int] = []
    }

    private(set) var nodes: [Node] = []
    /// The nodes that follow the prefix directly.
    private(set) var rootChildren: [Int] = []
    /// Each continuation's nodes, in order.
    private(set) var paths: [[Int]] = []
    /// The nodes followed by a token, depth first: the rows a forward runs.
    private(set) var order: [Int] = []
    /// The longest continuation's length.
    let longest: Int

    init(_ continuations: [[Int]]) {
        longest = continuations.map(\.count).max() ?? 0
        for continuation in continuations {
            var path: [Int] = [], parent: Int? = nil
            for (depth, token) in continuation.enumerated() {
                let siblings = parent.map { nodes[$0].children } ?? rootChildren
                if let existing = siblings.first(where: { nodes[$0].token == token }) {
                    parent = existing
                } else {
                    nodes.append(Node(token: token, depth: depth))
                    if let p = parent { nodes[p].children.append(nodes.count - 1) } else { rootChildren.append(nodes.count - 1) }
                    parent = nodes.count - 1
                }
                path.append(parent!)
            }
            paths.append(path)
        }
        func visit(_ n: Int) {
            guard !nodes[n].children.isEmpty else { return }
            order.append(n)
            for c in nodes[n].children { visit(c) }
        }
        for c in rootChildren { visit(c) }
    }
}
