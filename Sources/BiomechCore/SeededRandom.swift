import Foundation

/// The project's own seeded random generator (xoshiro256** seeded through SplitMix64).
///
/// Every random choice in the framework — splits, template sampling, weight
/// initialisation, dropout masks, shuffling — draws from one of these, so a run is
/// reproduced exactly from its seed. The algorithm is fixed (not the platform's
/// `SystemRandomNumberGenerator`), so sequences are identical on every machine.
public struct SeededRandom: RandomNumberGenerator, Sendable, Codable, Equatable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&sm); s1 = splitMix(&sm); s2 = splitMix(&sm); s3 = splitMix(&sm)
    }

    /// A generator for a named sub-stream, so that adding draws in one stage does not
    /// shift the numbers another stage sees.
    public func derived(_ label: String) -> SeededRandom {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the label, mixed with the state
        for b in label.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return SeededRandom(seed: h ^ s0 ^ (s2 &* 31))
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of mantissa.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1.0p-24 }
    /// Uniform in [0, 1) with 53 bits of mantissa.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    /// Standard normal by Box–Muller.
    public mutating func nextGaussian() -> Double {
        var u = nextDouble()
        while u <= .leastNormalMagnitude { u = nextDouble() }
        let v = nextDouble()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
    /// Uniform integer in 0..<n.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below:) needs a positive bound")
        return Int(next(upperBound: UInt64(n)))
    }
}

