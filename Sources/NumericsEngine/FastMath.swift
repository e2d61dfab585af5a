/// Branch-free elementary functions for hot loops. Written with wrapping integer
/// operations only, so loops over them vectorise (AVX-512 on the development machine).
public enum FastMath {
    /// `e^x` with relative error below 4e-7 for x in [−87, 88] (inputs are clamped to that
    /// range: results below e^−87 ≈ 1.6e−38 are not denormalised, above e^88 saturate).
    /// Cody–Waite range reduction and the Cephes `expf` polynomial.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let xc = Swift.min(Swift.max(x, -87), 88)
        let magic: Float = 12_582_912  // 1.5·2²³: adding it rounds to an integer in the low mantissa bits
        let z = xc * 1.442_695_04 + magic
        let n = z - magic
        let r = xc - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * r * r + r + 1
        let bits = (z.bitPattern &- 0x4B40_0000 &+ 127) << 23
        return p * Float(bitPattern: bits)
    }

    /// The logistic function `1 / (1 + e^−x)`.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
}

extension FastMath {
    /// Eight contiguous floats as a vector (compiles to one unaligned vector load).
    @inlinable @inline(__always)
    public static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        SIMD8(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
    }

    @inlinable @inline(__always)
    public static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        p[0] = v[0]; p[1] = v[1]; p[2] = v[2]; p[3] = v[3]; p[4] = v[4]; p[5] = v[5]; p[6] = v[6]; p[7] = v[7]
    }

    /// `exp` on eight lanes (the same algorithm as the scalar version).
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var xc = x
        xc.replace(with: -87, where: xc .< -87)
        xc.replace(with: 88, where: xc .> 88)
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let z = xc * 1.442_695_04 + magic
        let n = z - magic
        let r = xc - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * r * r + r + 1
        let bits = (unsafeBitCast(z, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }

    /// `p[i] = exp(p[i] − shift)` for `i < count`.
    @inlinable
    public static func expInPlace(_ p: UnsafeMutablePointer<Float>, count n: Int, subtracting shift: Float) {
        var i = 0
        let s = SIMD8<Float>(repeating: shift)
        while i + 8 <= n { store8(exp(load8(p + i) - s), p + i); i += 8 }
        while i < n { p[i] = exp(p[i] - shift); i += 1 }
    }
}

/// Reductions over contiguous Float buffers with 8-wide partial accumulators (a plain
/// loop would be serialised by strict floating-point ordering).
public enum Reduce {
    /// `Σ p[i]`.
    @inlinable
    public static func sum(_ p: UnsafePointer<Float>, count n: Int) -> Float {
        var a = SIMD8<Float>(repeating: 0), b = a
        var i = 0
        while i + 16 <= n { a += FastMath.load8(p + i); b += FastMath.load8(p + i + 8); i += 16 }
        var s = (a + b).sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// `max p[i]` (−∞ for an empty buffer).
    @inlinable
    public static func max(_ p: UnsafePointer<Float>, count n: Int) -> Float {
        var a = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= n { let v = FastMath.load8(p + i); a.replace(with: v, where: v .> a); i += 8 }
        var m = a.max()
        while i < n { m = Swift.max(m, p[i]); i += 1 }
        return m
    }

    /// `Σ p[i]·q[i]`.
    @inlinable
    public static func dot(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, count n: Int) -> Float {
        var a = SIMD8<Float>(repeating: 0), b = a
        var i = 0
        while i + 16 <= n {
            a += FastMath.load8(p + i) * FastMath.load8(q + i)
            b += FastMath.load8(p + i + 8) * FastMath.load8(q + i + 8)
            i += 16
        }
        var s = (a + b).sum()
        while i < n { s += p[i] * q[i]; i += 1 }
        return s
    }
}
