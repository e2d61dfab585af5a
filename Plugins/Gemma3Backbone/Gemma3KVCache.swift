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
        var scores: Tensor?

        init(capacity: Int, window: Int?, kvHeads: Int, headDim: Int) {
            self.capacity = capacity; self.window = window
            self.kvHeads = kvHeads; self.headDim = headDim; width = kvHeads * headDim
            keys = Tensor(shape: [capacity, width]); values = Tensor(shape: [capacity, width])
            slotPositions = [Int](repeating: -1, count: capacity)
        }

        /// Writes the new tokens' keys and values (`[n, kvHeads·headDim]`) at their positions.
        func append(keys k: Tensor, values v: Tensor, positions: [Int]) {
            precondition(positions.count <= capacity, "KV cache: \(positions.count) new tokens exceed the \(capacity) slots")
            for (i, p) in positions.enumerated() {
                precondition(window != nil || p < capacity, "KV cache: position \(p) beyond the cache length \(capacity)")
                let slot = p % capacity
                (keys.data + slot * width).update(from: k.data + i * width, count: width)
                (values.data + slot * width).update(from: v.data + i * width, count: width)
                slotPositions[slot] = p
            }
        }

        /// Attention of `queries` (`[n, queryHeads·headDim]`, already normed and rotated)
        /// over the cached slots, causal by position and limited to the window.
        func attend(queries q: Tensor, positions: [Int], queryHeads: Int, scale: Float, into out: Tensor) {
            let n = positions.count, hd = headDim, qw = queryHeads * hd, kw = width
            let used = (slotPositions.lastIndex { $0 >= 0 } ?? -1) + 1
            let group = queryHeads / kvHeads
            let s = Tensor.reuse(scores, shape: [queryHeads, n, used]); scores = s
            let qs = q.data, ks = keys.data, vs = values.data, os = out.data, ss = s.data
            let win = window ?? Int.max
            slotPositions.withUnsafeBufferPointer { spb in
                positions.withUnsafeBufferPointer { ppb in
                    let sp = spb.baseAddress!, pp = ppb.baseAddress!
                    let body: (Int) -> Void = { h in
                        let kvh = h / group
                        let sh = ss + h * n * used
                        BLAS.gemm(transB: true, m: n, n: used, k: hd, alpha: scale, a: qs + h * hd, lda: qw,
                                  b: ks + kvh * hd, ldb: kw, beta: 0, c: sh, ldc: used)
                        for i in 0..<n {
                            let row = sh + i * used, p = pp[i]
                            var mx = -Float.infinity
                            for j in 0..<used {
                                let kp = sp[j]
                                if kp < 0 || kp > p || p - kp >= win { row[j] = -.infinity } else if row[j] > mx { mx = row[j] }
                            }
                            if mx == -.infinity { for j in 0..<used { row[j] = 0 }; continue }
                            FastMath.expInPlace(row, count: used, subtracting: mx)
                            let inv = 1 / Reduce.sum(row, count: used)
                            for j in 0..<used { row[j] *= inv }
                        }
                        BLAS.gemm(m: n, n: hd, k: used, a: sh, lda: used, b: vs + kvh * hd, ldb: kw,
                                  beta: 0, c: os + h * hd, ldc: qw)
                    }
                    if queryHeads > 1 && Threads.count > 1 && n * used >= 4096 {
                        Threads.withSerialBLAS { Threads.parallelFor(queryHeads) { r in for h in r { body(h) } } }
                    } else {
                        for h in 0..<queryHeads { body(h) }
                    }
                }
            }
        }
    }

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
        layers = (0..<c.layerCount).map { l in
            let global = c.isGlobal(layer: l)
            let capacity = global ? maxLength : Swift.min(maxLength, c.slidingWindow + Swift.min(chunk, maxLength))
            return LayerCache(capacity: capacity, window: global ? nil : c.slidingWindow,
                              kvHeads: c.kvHeadCount, headDim: c.headDimension)
        }
    }

    /// Forgets every position (the buffers are kept).
    public func reset() {
        length = 0
        for l in layers { for i in l.slotPositions.indices { l.slotPositions[i] = -1 } }
    }

    /// Bytes held by the keys and values.
    public var byteCount: Int { layers.reduce(0) { $0 + 2 * $1.keys.count * 4 } }
}
