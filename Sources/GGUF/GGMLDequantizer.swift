import BiomechCore

/// Dequantization of ggml blocks to Float32.
///
/// Each function reads whole blocks and writes `blockSize` floats per block, in the order
/// ggml's reference `dequantize_row_*` functions produce them. Products of the f16 block
/// scales with the small integer codes are exact in Float32, so results match the
/// reference implementations bit for bit. Block layouts are described in `docs/gemma3.md`.
public enum GGMLDequantizer {
    /// Dequantizes `blocks` (a whole number of blocks of `type`) into `output`, which must
    /// hold exactly `blockCount * type.blockSize` floats.
    public static func dequantize(_ type: GGMLType, blocks: UnsafeRawBufferPointer,
                                  into output: UnsafeMutableBufferPointer<Float>) throws {
        guard type.canDequantize else {
            throw InputError(field: type.name, "cannot dequantize this tensor type",
                             allowed: GGMLType.dequantizable.map(\.name))
        }
        guard blocks.count % type.typeSize == 0 else {
            throw InputError(field: type.name,
                             "\(blocks.count) bytes is not a whole number of \(type.typeSize)-byte blocks")
        }
        let blockCount = blocks.count / type.typeSize
        guard output.count == blockCount * type.blockSize else {
            throw InputError(field: type.name,
                             "output holds \(output.count) floats; \(blockCount) blocks need \(blockCount * type.blockSize)")
        }
        guard blockCount > 0, let source = blocks.baseAddress, let target = output.baseAddress else { return }
        switch type {
        case .f32: dequantizeF32(source, blockCount, target)
        case .f16: dequantizeF16(source, blockCount, target)
        case .bf16: dequantizeBF16(source, blockCount, target)
        case .q8_0: dequantizeQ8_0(source, blockCount, target)
        case .q4_0: dequantizeQ4_0(source, blockCount, target)
        case .q5_0: dequantizeQ5_0(source, blockCount, target)
        case .q4_K: dequantizeQ4_K(source, blockCount, target)
        case .q5_K: dequantizeQ5_K(source, blockCount, target)
        case .q6_K: dequantizeQ6_K(source, blockCount, target)
        default: break  // excluded by canDequantize
        }
    }

    /// Convenience: dequantizes bytes held in an array.
    public static func dequantize(_ type: GGMLType, bytes: [UInt8]) throws -> [Float] {
        guard bytes.count % type.typeSize == 0 else {
            throw InputError(field: type.name,
                             "\(bytes.count) bytes is not a whole number of \(type.typeSize)-byte blocks")
        }
        var out = [Float](repeating: 0, count: bytes.count / type.typeSize * type.blockSize)
        try bytes.withUnsafeBytes { raw in
            try out.withUnsafeMutableBufferPointer { try dequantize(type, blocks: raw, into: $0) }
        }
        return out
    }

    /// IEEE 754 half precision to single precision (exact, including subnormals, infinities and NaN).
    @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x03FF)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    @inline(__always)
    private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    private static func dequantizeF32(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    private static func dequantizeF16(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for i in 0..<n { out[i] = half(src, 2 * i) }
    }

    private static func dequantizeBF16(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            out[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }

    /// Q8_0: d (f16), qs[32] (int8). x = d * q.
    private static func dequantizeQ8_0(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<n {
            let block = src + b * 34
            let d = half(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            let y = out + b * 32
            for j in 0..<32 { y[j] = Float(qs[j]) * d }
        }
    }

    /// Q4_0: d (f16), qs[16] (two 4-bit codes per byte). x = d * (q - 8); low nibbles are
    /// values 0..<16, high nibbles values 16..<32.
    private static func dequantizeQ4_0(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<n {
            let block = src + b * 18
            let d = half(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 32
            for j in 0..<16 {
                y[j] = Float(Int(qs[j] & 0x0F) - 8) * d
                y[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
            }
        }
    }

    /// Q5_0: d (f16), qh (32 high bits, little-endian), qs[16] (low nibbles). x = d * (q - 16).
    private static func dequantizeQ5_0(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<n {
            let block = src + b * 22
            let d = half(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 32
            for j in 0..<16 {
                let h0 = UInt8((qh >> UInt32(j)) & 1) << 4
                let h1 = UInt8((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = Float(Int((qs[j] & 0x0F) | h0) - 16) * d
                y[j + 16] = Float(Int((qs[j] >> 4) | h1) - 16) * d
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) from the 12 packed bytes of a
    /// Q4_K/Q5_K block.
    @inline(__always)
    static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 {
            return (s[j] & 63, s[j + 4] & 63)
        }
        let scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)
        let minimum = (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
        return (scale, minimum)
    }

    /// Q4_K: d, dmin (f16), scales[12] (8 packed 6-bit scale/min pairs), qs[128].
    /// 256 values in 8 sub-blocks of 32: x = d*scale*q - dmin*min.
    private static func dequantizeQ4_K(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<n {
            let block = src + b * 144
            let d = half(block, 0)
            let dmin = half(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 256
            for c in 0..<4 {
                let (sc1, m1) = scaleMin(2 * c, scales)
                let (sc2, m2) = scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let q = qs + 32 * c
                let yc = y + 64 * c
                for l in 0..<32 {
                    yc[l] = d1 * Float(q[l] & 0x0F) - min1
                    yc[l + 32] = d2 * Float(q[l] >> 4) - min2
                }
            }
        }
    }

    /// Q5_K: d, dmin (f16), scales[12], qh[32] (fifth bits), qs[128] (low nibbles).
    private static func dequantizeQ5_K(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<n {
            let block = src + b * 176
            let d = half(block, 0)
            let dmin = half(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            let qs = (block + 48).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 256
            for c in 0..<4 {
                let (sc1, m1) = scaleMin(2 * c, scales)
                let (sc2, m2) = scaleMin(2 * c + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let q = qs + 32 * c
                let yc = y + 64 * c
                let bit1 = UInt8(2 * c), bit2 = UInt8(2 * c + 1)
                for l in 0..<32 {
                    let h1 = ((qh[l] >> bit1) & 1) << 4
                    let h2 = ((qh[l] >> bit2) & 1) << 4
                    yc[l] = d1 * Float((q[l] & 0x0F) | h1) - min1
                    yc[l + 32] = d2 * Float((q[l] >> 4) | h2) - min2
                }
            }
        }
    }

    /// Q6_K: ql[128] (low nibbles), qh[64] (2 high bits each), scales[16] (int8), d (f16).
    /// 256 values in 16 groups of 16: x = d * scale * (q - 32).
    private static func dequantizeQ6_K(_ src: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<n {
            let block = src + b * 210
            let d = half(block, 208)
            for half in 0..<2 {
                let ql = (block + 64 * half).assumingMemoryBound(to: UInt8.self)
                let qh = (block + 128 + 32 * half).assumingMemoryBound(to: UInt8.self)
                let sc = (block + 192 + 8 * half).assumingMemoryBound(to: Int8.self)
                let y = out + b * 256 + 128 * half
                for l in 0..<32 {
                    let s = l / 16
                    let q1 = Int((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32
                    let q2 = Int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32
                    let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    y[l] = (d * Float(sc[s])) * Float(q1)
                    y[l + 32] = (d * Float(sc[s + 2])) * Float(q2)
                    y[l + 64] = (d * Float(sc[s + 4])) * Float(q3)
                    y[l + 96] = (d * Float(sc[s + 6])) * Float(q4)
                }
            }
        }
    }
}
