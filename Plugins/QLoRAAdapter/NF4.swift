import BiomechCore
import CMatrixKernels
import NumericsEngine

/// 4-bit NormalFloat (NF4) quantization with an absmax scale per block and optional double
/// quantization of the scales, as bitsandbytes' `quantize_4bit(quant_type="nf4")` does.
///
/// - The weight is read as one flat array (row-major `[out, in]`) cut into blocks of
///   `blockSize` (64) values. Each block keeps `absmax = max|x|`; each value is replaced by
///   the index of the nearest of the 16 NF4 code values to `x / absmax`.
/// - Two codes per byte, the first value of a pair in the high nibble (bitsandbytes' packing).
/// - Double quantization (`compress_statistics`): the block scales, minus their mean
///   (`offset`), are quantized blockwise in blocks of 256 to 8 bits with bitsandbytes'
///   signed dynamic map (`create_dynamic_map()`), each block of 256 keeping its own float
///   absmax. A scale is then `dynamicMap[q] · absmax2[b / 256] + offset`.
///
/// Memory: 0.5 byte per value, plus per block of 64 either a Float32 scale (4 bytes →
/// 0.0625 bytes/value) or one byte and 4/256 bytes (≈ 0.0159 bytes/value), i.e. ≈ 4.13 bits
/// per value with double quantization.
public enum NF4 {
    /// bitsandbytes' NF4 code values (`csrc/kernels.cu`, `get_4bit_type("nf4")`): quantiles
    /// of N(0, 1) normalised to [-1, 1], with an exact zero.
    public static let codeValues: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ]

    /// Midpoints between consecutive code values: index = number of midpoints below x.
    static let thresholds: [Float] = (0..<15).map { (codeValues[$0] + codeValues[$0 + 1]) / 2 }

    /// The index of the nearest NF4 code value to `x` (x in [-1, 1]).
    @inline(__always)
    public static func code(_ x: Float) -> UInt8 {
        var q: UInt8 = 0
        for t in thresholds where x > t { q += 1 }
        return q
    }

    /// bitsandbytes' `create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`:
    /// 256 sorted values in [-1, 1] (a dynamic exponent and a linear fraction), used for the
    /// second-level quantization of the block scales.
    public static let dynamicMap: [Float] = {
        let maxExponentBits = 7, nonSignBits = 7
        var data: [Float] = []
        for i in 0..<maxExponentBits {
            let fractionItems = (1 << (i + nonSignBits - maxExponentBits)) + 1
            let boundaries = linspace(0.1, 1, fractionItems)
            let means = (0..<(fractionItems - 1)).map { (boundaries[$0] + boundaries[$0 + 1]) / 2 }
            let magnitude = Float(pow10(-(maxExponentBits - 1) + i))
            data += means.map { magnitude * $0 }
            data += means.map { -magnitude * $0 }
        }
        data.append(0)
        data.append(1)
        precondition(data.count == 256)
        return data.sorted()
    }()

    private static func linspace(_ a: Float, _ b: Float, _ n: Int) -> [Float] {
        // torch.linspace in float32: start + i·step, the second half from the end.
        let step = (b - a) / Float(n - 1)
        return (0..<n).map { i in i < n / 2 ? a + step * Float(i) : b - step * Float(n - 1 - i) }
    }

    private static func pow10(_ e: Int) -> Double {
        var r = 1.0
        if e >= 0 { for _ in 0..<e { r *= 10 } } else { for _ in 0..<(-e) { r /= 10 } }
        return r
    }

    /// The index of the nearest value of the sorted `map` to `x` (binary search).
    static func nearest(_ x: Float, in map: [Float]) -> UInt8 {
        var lo = 0, hi = map.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if map[mid] <= x { lo = mid } else { hi = mid }
        }
        return UInt8(abs(map[lo] - x) <= abs(map[hi] - x) ? lo : hi)
    }
}

/// A frozen weight matrix `[rows, columns]` stored quantized, dequantized rows at a time.
public protocol QuantizedWeight: AnyObject, Sendable {
    var rows: Int { get }
    var columns: Int { get }
    /// Bytes held by the quantized representation (codes and scales).
    var storageBytes: Int { get }
    /// A short description of the format (`NF4/64+DQ`, `Q4_K`).
    var formatName: String { get }
    /// Writes rows `range` as Float32 (`range.count × columns` values) into `output`.
    /// Safe to call from several threads on disjoint ranges.
    func dequantizeRows(_ range: Range<Int>, into output: UnsafeMutablePointer<Float>)
    /// Whether ``multiplyRows(_:by:into:)`` works for this weight.
    var multipliesRows: Bool { get }
    /// `y[r − range.lowerBound] = Σ_c W[r, c]·x[c]` for the rows `range`, straight from the
    /// quantized storage (a one-row forward: decoding); false, writing nothing, when the
    /// format has no such kernel (the caller then dequantizes). Safe from several threads on
    /// disjoint ranges.
    func multiplyRows(_ range: Range<Int>, by x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) -> Bool
}

extension QuantizedWeight {
    public var multipliesRows: Bool { false }
    public func multiplyRows(_ range: Range<Int>, by x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) -> Bool { false }
}

/// A weight quantized to NF4 (see `NF4`).
public final class NF4Weight: QuantizedWeight, @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let blockSize: Int
    /// Two codes per byte, first value in the high nibble.
    public let packed: [UInt8]
    /// Per-block scales (without double quantization).
    public let absmax: [Float]
    /// Double quantization: per-block 8-bit scale codes, per-256-block scales, and the offset.
    public let quantizedAbsmax: [UInt8]
    public let absmax2: [Float]
    public let offset: Float
    public static let scaleBlockSize = 256
    public var doubleQuantized: Bool { !quantizedAbsmax.isEmpty }

    /// Quantizes `weight` (row-major `[rows, columns]`).
    public init(quantizing weight: UnsafePointer<Float>, rows: Int, columns: Int, blockSize: Int = 64,
                doubleQuantization: Bool = true) {
        precondition(blockSize > 0 && blockSize % 2 == 0, "NF4 block size must be even")
        self.rows = rows; self.columns = columns; self.blockSize = blockSize
        let n = rows * columns
        let blockCount = (n + blockSize - 1) / blockSize
        var scales = [Float](repeating: 0, count: blockCount)
        var codes = [UInt8](repeating: 0, count: (n + 1) / 2)
        scales.withUnsafeMutableBufferPointer { sc in
            codes.withUnsafeMutableBufferPointer { cd in
                let scp = sc.baseAddress!, cdp = cd.baseAddress!
                // The C kernel `nf4_quantize`: per block, absmax and each value's `NF4.code`.
                NF4.thresholds.withUnsafeBufferPointer { thresholds in
                    let t = thresholds.baseAddress!
                    Threads.parallelFor(blockCount, minPerThread: 256) { range in
                        nf4_quantize(weight, Int64(n), Int64(blockSize), t, Int64(range.lowerBound), Int64(range.upperBound), scp, cdp)
                    }
                }
            }
        }
        packed = codes
        if doubleQuantization {
            var sum: Double = 0
            for s in scales { sum += Double(s) }
            let mean = Float(sum / Double(Swift.max(blockCount, 1)))
            let sb = NF4Weight.scaleBlockSize
            let count2 = (blockCount + sb - 1) / sb
            var second = [Float](repeating: 0, count: count2)
            var q = [UInt8](repeating: 0, count: blockCount)
            let map = NF4.dynamicMap
            for b2 in 0..<count2 {
                let start = b2 * sb, end = Swift.min(start + sb, blockCount)
                var m: Float = 0
                for i in start..<end { m = Swift.max(m, abs(scales[i] - mean)) }
                second[b2] = m
                let inv: Float = m > 0 ? 1 / m : 0
                for i in start..<end { q[i] = NF4.nearest((scales[i] - mean) * inv, in: map) }
            }
            offset = mean; absmax2 = second; quantizedAbsmax = q; absmax = []
        } else {
            offset = 0; absmax2 = []; quantizedAbsmax = []; absmax = scales
        }
    }

    public convenience init(quantizing weight: Tensor, blockSize: Int = 64, doubleQuantization: Bool = true) {
        precondition(weight.rank == 2, "NF4 quantizes a matrix, got \(weight.shape)")
        self.init(quantizing: weight.data, rows: weight.shape[0], columns: weight.shape[1],
                  blockSize: blockSize, doubleQuantization: doubleQuantization)
    }

    public var storageBytes: Int {
        packed.count + absmax.count * 4 + quantizedAbsmax.count + absmax2.count * 4 + 4
    }

    public var formatName: String { "NF4/\(blockSize)" + (doubleQuantized ? "+DQ" : "") }

    /// The scale of block `b` (after undoing double quantization).
    @inline(__always)
    public func scale(ofBlock b: Int) -> Float {
        if quantizedAbsmax.isEmpty { return absmax[b] }
        return NF4.dynamicMap[Int(quantizedAbsmax[b])] * absmax2[b / NF4Weight.scaleBlockSize] + offset
    }

    /// The 4-bit code of element `i` (flat index).
    public func code(at i: Int) -> UInt8 {
        let byte = packed[i >> 1]
        return i & 1 == 0 ? byte >> 4 : byte & 0x0F
    }

    /// Rows of whole blocks (every Gemma 3 width is a multiple of 64).
    public var multipliesRows: Bool { columns % blockSize == 0 }

    /// The C kernel `nf4_matvec` on the codes (whole blocks per row only).
    public func multiplyRows(_ range: Range<Int>, by x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) -> Bool {
        guard multipliesRows else { return false }
        return withKernelView { nf4_matvec(&$0, Int64(range.lowerBound), Int64(range.upperBound), x, y) == 0 }
    }

    /// Runs `body` with this weight as the C kernels' `nf4_weight_view` (pointers valid inside `body` only).
    func withKernelView<R>(_ body: (inout nf4_weight_view) -> R) -> R {
        packed.withUnsafeBufferPointer { codes in
            absmax.withUnsafeBufferPointer { absmax in
                quantizedAbsmax.withUnsafeBufferPointer { quantizedAbsmax in
                    absmax2.withUnsafeBufferPointer { absmax2 in
                        NF4.dynamicMap.withUnsafeBufferPointer { map in
                            NF4.codeValues.withUnsafeBufferPointer { values in
                                var view = nf4_weight_view(
                                    codes: codes.baseAddress, columns: Int64(columns), block_size: Int64(blockSize),
                                    absmax: doubleQuantized ? nil : absmax.baseAddress,
                                    quantized_absmax: doubleQuantized ? quantizedAbsmax.baseAddress : nil,
                                    absmax2: absmax2.baseAddress, dynamic_map: map.baseAddress, offset: offset,
                                    code_values: values.baseAddress)
                                return body(&view)
                            }
                        }
                    }
                }
            }
        }
    }

    public func dequantizeRows(_ range: Range<Int>, into output: UnsafeMutablePointer<Float>) {
        let start = range.lowerBound * columns, end = range.upperBound * columns
        let bs = blockSize
        packed.withUnsafeBufferPointer { pk in
            NF4.codeValues.withUnsafeBufferPointer { table in
                let p = pk.baseAddress!, t = table.baseAddress!
                var i = start
                while i < end {
                    let b = i / bs
                    let blockEnd = Swift.min((b + 1) * bs, end)
                    let s = scale(ofBlock: b)
                    var j = i
                    if j & 1 == 1 { output[j - start] = t[Int(p[j >> 1] & 0x0F)] * s; j += 1 }
                    while j + 1 < blockEnd {
                        let byte = p[j >> 1]
                        output[j - start] = t[Int(byte >> 4)] * s
                        output[j + 1 - start] = t[Int(byte & 0x0F)] * s
                        j += 2
                    }
                    if j < blockEnd { output[j - start] = t[Int(p[j >> 1] >> 4)] * s }
                    i = blockEnd
                }
            }
        }
    }
}
