import Foundation
import NumericsEngine

/// Keys and values of past positions for generation (one sequence).
///
/// Keys are stored after `k_norm` and RoPE, values as projected. A global layer keeps
/// every position (`capacity` = the longest sequence the cache was made for). A
/// sliding-window layer keeps a ring of `window + chunk` slots: a query only sees the last
/// `window` positions, and a chunk of up to `chunk` new tokens is written before its
/// queries attend, so the ring must hold `window − 1` older positions beside it. Prompts
/// longer than `chunk` are pre-filled chunk by chunk (``Gemma3Model/prefill``).
public final class Gemma3KVCache {
    public final class LayerCache {
        public let capacity: Int
        public let window: Int?
        let width: Int, headDim: Int, kvHeads: Int
        let keys: Tensor, values: Tensor
        /// The position held by each slot (−1: empty).
        var slotPositions: [Int]
        /// Attention scores, one buffer for all the layers of a cache (they attend one after
        /// another), so a new cache does not fault in a fresh buffer per layer.
        let scratch: AttentionScratch

        init(capacity: Int, window: Int?, kvHeads: Int, headDim: Int, scratch: AttentionScratch) {
            self.capacity = capacity; self.window = window; self.scratch = scratch
            self.kvHeads = kvHeads; self.headDim = headDim; width = kvHeads * headDim
            keys = Tensor(shape: [capacity, width]); values = Tensor(shape: [capacity, width])
            slotPositions = [Int](repeating: -1, count: capacity)
        }

        /// Writes the new tokens' keys and values and attends their queries into `out`, run by
        /// run. A run is a stretch of rows whose positions go up by one; the rows of a plain
        /// prefill are one run. Several runs that start at the same position are alternative
        /// continuations of the cached prefix (answer candidates scored in one forward): each
        /// overwrites the slots of the one before, so it sees the prefix and itself only.
        /// A run overwrites only positions a query at or after its start cannot see (the ring
        /// keeps `chunk` slots beyond the window), so runs must be at most `chunk` long.
        func appendAndAttend(keys k: Tensor, values v: Tensor, queries q: Tensor, positions: [Int],
                             queryHeads: Int, scale: Float, into out: Tensor) {
            var start = 0
            while start < positions.count {
                var end = start + 1
                while end < positions.count && positions[end] == positions[end - 1] + 1 { end += 1 }
                append(keys: k, values: v, positions: positions, rows: start..<end)
                attend(queries: q, positions: positions, rows: start..<end, queryHeads: queryHeads, scale: scale, into: out)
                start = end
            }
        }

        /// Writes rows `rows` of the new tokens' keys and values (`[n, kvHeads·headDim]`) at their positions.
        func append(keys k: Tensor, values v: Tensor, positions: [Int], rows: Range<Int>) {
            precondition(rows.count <= capacity, "KV cache: \(rows.count) new tokens exceed the \(capacity) slots")
            for i in rows {
                let p = positions[i]
                precondition(window != nil || p < capacity, "KV cache: position \(p) beyond the cache length \(capacity)")
                let slot = p % capacity
                (keys.data + slot * width).update(from: k.data + i * width, count: width)
                (values.data + slot * width).update(from: v.data + i * width, count: width)
                slotPositions[slot] = p
            }
        }

        /// Empties the slots of positions from `position` on.
        func forget(from position: Int) {
            for i in slotPositions.indices where slotPositions[i] >= position { slotPositions[i] = -1 }
        }

        /// Attention of rows `rows` of `queries` (`[n, queryHeads·headDim]`, already normed and
        /// rotated) over the cached slots, causal by position and limited to the window.
        func attend(queries q: Tensor, positions allPositions: [Int], rows: Range<Int>, queryHeads: Int, scale: Float, into out: Tensor) {
            let positions = rows.count == allPositions.count ? allPositions : Array(allPositions[rows])
            let n = positions.count, hd = headDim, qw = queryHeads * hd, kw = width
            let used = (slotPositions.lastIndex { $0 >= 0 } ?? -1) + 1
            let group = queryHeads / kvHeads
            let s = Tensor.reuse(scratch.scores, shape: [queryHeads, n, used]); scratch.scores = s
            let qs = q.data + rows.lowerBound * qw, ks = keys.data, vs = values.data, os = out.data + rows.lowerBound * qw, ss = s.data
            let win = window ?? Int.max
            // While the slots hold positions in order (no ring wrap yet), the keys a block of
            // queries can see are a prefix of them: blocks of a prompt's queries skip the
            // later keys, which the causal mask would zero anyway (about half the products of
            // a prefill). Otherwise every block reads every slot.
            let inOrder = used > 0 && slotPositions[0] >= 0 && (1..<used).allSatisfy { slotPositions[$0] >= slotPositions[$0 - 1] }
            let rowBlock = inOrder ? 64 : n
            slotPositions.withUnsafeBufferPointer { spb in
                positions.withUnsafeBufferPointer { ppb in
                    let sp = spb.baseAddress!, pp = ppb.baseAddress!
                    /// The slots a query at `position` or before can see: `used`, or the prefix up to it.
                    func visibleSlots(upTo position: Int) -> Int {
                        guard inOrder else { return used }
                        var k = used
                        while k > 0 && sp[k - 1] > position { k -= 1 }
                        return k
                    }
                    /// Masks a row of scores to the slots a query at `position` sees (causal, in the
                    /// window) and turns it into softmax weights; a row that sees nothing is zero.
                    func softmaxRow(_ row: UnsafeMutablePointer<Float>, position p: Int, keyCount: Int) {
                        var mx = -Float.infinity
                        for j in 0..<keyCount {
                            let kp = sp[j]
                            if kp < 0 || kp > p || p - kp >= win { row[j] = -.infinity } else if row[j] > mx { mx = row[j] }
                        }
                        if mx == -.infinity { for j in 0..<keyCount { row[j] = 0 }; return }
                        FastMath.expInPlace(row, count: keyCount, subtracting: mx)
                        let inv = 1 / Reduce.sum(row, count: keyCount)
                        for j in 0..<keyCount { row[j] *= inv }
                    }
                    let body: (Int) -> Void = { h in
                        let kvh = h / group
                        var i0 = 0
                        while i0 < n {
                            let i1 = Swift.min(n, i0 + rowBlock)
                            var lastPosition = pp[i0]
                            for i in (i0 + 1)..<i1 { lastPosition = Swift.max(lastPosition, pp[i]) }
                            let keyCount = visibleSlots(upTo: lastPosition)
                            let sh = ss + h * n * used + i0 * used
                            if keyCount > 0 {
                                BLAS.gemm(transB: true, m: i1 - i0, n: keyCount, k: hd, alpha: scale, a: qs + i0 * qw + h * hd, lda: qw,
                                          b: ks + kvh * hd, ldb: kw, beta: 0, c: sh, ldc: used)
                            }
                            for i in 0..<(i1 - i0) { softmaxRow(sh + i * used, position: pp[i0 + i], keyCount: keyCount) }
                            if keyCount > 0 {
                                BLAS.gemm(m: i1 - i0, n: hd, k: keyCount, a: sh, lda: used, b: vs + kvh * hd, ldb: kw,
                                          beta: 0, c: os + i0 * qw + h * hd, ldc: qw)
                            } else {
                                for i in i0..<i1 { (os + i * qw + h * hd).update(repeating: 0, count: hd) }
                            }
                            i0 = i1
                        }
                    }
                    if n == 1 && group > 1 {
                        // One query (a decoding step): the `group` heads that share a key head
                        // are `group` rows of stride `headDim` in `q`, so one product per key
                        // head reads its keys and values once instead of once per query head.
                        let keyCount = visibleSlots(upTo: pp[0])
                        for g in 0..<kvHeads {
                            let sg = ss + g * group * used
                            BLAS.gemm(transB: true, m: group, n: keyCount, k: hd, alpha: scale, a: qs + g * group * hd, lda: hd,
                                      b: ks + g * hd, ldb: kw, beta: 0, c: sg, ldc: used)
                            for i in 0..<group { softmaxRow(sg + i * used, position: pp[0], keyCount: keyCount) }
                            BLAS.gemm(m: group, n: hd, k: keyCount, a: sg, lda: used, b: vs + g * hd, ldb: kw,
                                      beta: 0, c: os + g * group * hd, ldc: hd)
                        }
                    } else if queryHeads > 1 && Threads.count > 1 && n * used >= 4096 {
                        Threads.withSerialBLAS { Threads.parallelFor(queryHeads) { r in for h in r { body(h) } } }
                    } else {
                        for h in 0..<queryHeads { body(h) }
                    }
                }
            }
        }
    }

    final class AttentionScratch { var scores: Tensor? }

    public let layers: [LayerCache]
    /// The most positions this cache can hold (prompt plus generated tokens).
    public let maxLength: Int
    /// The largest number of tokens one forward may add.
    public let chunk: Int
    /// Positions processed so far (the next token's position).
    public internal(set) var length = 0

    /// A cache for sequences of up to `maxLength` tokens, filled at most `chunk` tokens at a time.
    public init(configuration c: Gemma3Configuration, maxLength: Int, chunk: Int = 512) {
        self.maxLength = maxLength
        self.chunk = Swift.max(1, Swift.min(chunk, maxLength))
        let scratch = AttentionScratch()
        layers = (0..<c.layerCount).map { l in
            let global = c.isGlobal(layer: l)
            let capacity = global ? maxLength : Swift.min(maxLength, c.slidingWindow + Swift.min(chunk, maxLength))
            return LayerCache(capacity: capacity, window: global ? nil : c.slidingWindow,
                              kvHeads: c.kvHeadCount, headDim: c.headDimension, scratch: scratch)
        }
    }

    /// Forgets the positions from `newLength` on, so the cache holds the first `newLength`
    /// again. Valid after at most `chunk` positions were added past `newLength` (later ones
    /// may have overwritten older slots of a sliding-window ring).
    public func rewind(to newLength: Int) {
        precondition(newLength >= 0 && newLength <= length, "KV cache: cannot rewind \(length) positions to \(newLength)")
        settle(at: newLength)
    }

    /// Holds exactly the first `newLength` positions after forwards that wrote slots without
    /// advancing `length` (``Gemma3Model/cachedForward(_:positions:vectors:cache:)``): those
    /// below `newLength` become the cache's, any beyond are forgotten (the same bound on
    /// positions written past `newLength` as `rewind`).
    public func settle(at newLength: Int) {
        precondition(newLength >= 0 && newLength <= maxLength, "KV cache: cannot hold \(newLength) of \(maxLength) positions")
        length = newLength
        for l in layers { l.forget(from: newLength) }
    }

    /// Forgets every position (the buffers are kept).
    public func reset() {
        length = 0
        for l in layers { for i in l.slotPositions.indices { l.slotPositions[i] = -1 } }
    }

    /// Bytes held by the keys and values.
    public var byteCount: Int { layers.reduce(0) { $0 + 2 * $1.keys.count * 4 } }
}
