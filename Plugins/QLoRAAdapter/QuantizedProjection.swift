import BiomechCore
import CGemmaKernels
import GGUF
import NumericsEngine

/// A frozen linear map whose weight stays quantized: `y = x · Wᵀ`, `dx = dy · W`, with `W`
/// dequantized tile by tile (a block of output rows at a time) into one small reused
/// buffer, each tile followed by one `sgemm`. The whole weight never exists in Float32.
///
/// There is no weight gradient (the base of QLoRA is frozen). Dequantization of a tile is
/// split over the engine's threads by rows; the products use OpenBLAS's threads.
///
/// The tile buffer can be shared (`TileScratch`) by all the projections of a model, which
/// run one at a time: QLoRA gives every projection of a model the same one.
public final class QuantizedProjection: Projection {
    public let name: String
    public let weight: any QuantizedWeight
    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }
    public var computeInputGradient = true
    /// Output rows per tile.
    public let tileRows: Int

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    public let scratch: TileScratch
    private var tile: Tensor { scratch.buffer }

    /// `tileElements` bounds the tile buffer (rows × in floats; default 256 Ki floats = 1 MiB).
    public init(name: String, weight: any QuantizedWeight, tileElements: Int = 1 << 18, scratch: TileScratch? = nil) {
        self.name = name
        self.weight = weight
        let rows = Swift.max(16, tileElements / Swift.max(1, weight.columns)) / 16 * 16
        tileRows = Swift.min(weight.rows, rows)
        self.scratch = scratch ?? TileScratch()
        self.scratch.reserve(tileRows * weight.columns)
    }

    public var parameters: [Parameter] { [] }

    /// Bytes of the quantized weight (codes and scales; the shared tile buffer not counted).
    public var storageBytes: Int { weight.storageBytes }

    private func dequantizeTile(_ rows: Range<Int>) {
        tile.resize([rows.count, weight.columns])
        let columns = weight.columns, t = tile.data, w = weight, start = rows.lowerBound
        Threads.parallelFor(rows.count, minPerThread: Swift.max(1, 16_384 / Swift.max(1, columns))) { part in
            w.dequantizeRows((start + part.lowerBound)..<(start + part.upperBound), into: t + part.lowerBound * columns)
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == inFeatures, "\(name): input \(x.shape), expected last dimension \(inFeatures)")
        let rows = x.rowCount, out = outFeatures, k = inFeatures
        let y = Tensor.reuse(output, shape: Array(x.shape.dropLast()) + [out])
        output = y
        input = x
        if rows <= Self.rowProductRows, weight.multipliesRows {
            multiplyFromStorage(x, rows: rows, into: y)
            return y
        }
        var r0 = 0
        while r0 < out {
            let r1 = Swift.min(out, r0 + tileRows)
            dequantizeTile(r0..<r1)
            // y[:, r0..<r1] = x · W[r0..<r1]ᵀ
            BLAS.gemm(transA: false, transB: true, m: rows, n: r1 - r0, k: k,
                      a: x.data, lda: k, b: tile.data, ldb: k, beta: 0, c: y.data + r0, ldc: out)
            r0 = r1
        }
        return y
    }

    /// Up to this many input rows, a forward multiplies from the quantized storage row by row
    /// (``QuantizedWeight/multiplyRows(_:by:into:)``) instead of dequantizing every tile: it
    /// reads 4 bits per weight once per row instead of writing and reading 32.
    static let rowProductRows = 4

    private func multiplyFromStorage(_ x: Tensor, rows: Int, into y: Tensor) {
        let out = outFeatures, k = inFeatures, w = weight
        let xs = x.data, ys = y.data
        for row in 0..<rows {
            Threads.parallelFor(out, minPerThread: Swift.max(1, 32_768 / Swift.max(1, k))) { part in
                _ = w.multiplyRows(part, by: xs + row * k, into: ys + row * out + part.lowerBound)
            }
        }
    }

    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("\(name).backward before forward") }
        guard computeInputGradient else { return nil }
        let rows = x.rowCount, out = outFeatures, k = inFeatures
        precondition(gradOutput.count == rows * out, "\(name): gradient \(gradOutput.shape) does not match the output")
        let dx = Tensor.reuse(gradInput, shape: x.shape)
        gradInput = dx
        var r0 = 0
        while r0 < out {
            let r1 = Swift.min(out, r0 + tileRows)
            dequantizeTile(r0..<r1)
            // dx += dy[:, r0..<r1] · W[r0..<r1]
            BLAS.gemm(transA: false, transB: false, m: rows, n: k, k: r1 - r0,
                      a: gradOutput.data + r0, lda: out, b: tile.data, ldb: k,
                      beta: r0 == 0 ? 0 : 1, c: dx.data, ldc: k)
            r0 = r1
        }
        return dx
    }
}

/// The buffer a `QuantizedProjection` dequantizes its tiles into; one can serve every
/// projection of a model, since a model runs its projections one at a time.
public final class TileScratch: @unchecked Sendable {
    public let buffer = Tensor(shape: [0])
    public init() {}
    /// Makes room for `elements` floats.
    public func reserve(_ elements: Int) {
        if buffer.capacity < elements { let shape = buffer.shape; buffer.resize([elements]); buffer.resize(shape) }
    }
    public var bytes: Int { buffer.capacity * 4 }
}

/// A weight kept in its GGUF blocks as loaded (Q4_K, Q5_0, Q6_K, Q8_0, …), read from the
/// memory-mapped file and dequantized rows at a time with `GGMLDequantizer`.
public final class GGMLWeight: QuantizedWeight, @unchecked Sendable {
    public let file: GGUFFile
    public let info: GGUFTensorInfo
    public var rows: Int { info.rowCount }
    public var columns: Int { info.rowLength }
    public var storageBytes: Int { info.byteCount }
    public var formatName: String { info.type.name }

    public init(file: GGUFFile, tensor name: String) throws {
        self.file = file
        info = try file.tensor(name)
        guard info.dimensions.count == 2 else {
            throw InputError(file: file.path, field: name, "a projection weight must be a matrix, got dimensions \(info.dimensions)")
        }
        guard info.type.canDequantize else {
            throw InputError(file: file.path, field: name, "cannot dequantize tensor type \(info.type.name)",
                             allowed: GGMLType.dequantizable.map(\.name))
        }
    }

    /// Rows of whole blocks of a type `gemma_quantized_matvec` reads (the Gemma 3 file's types).
    public var multipliesRows: Bool { gemma_quantized_matvec_handles(Int32(info.type.rawValue), Int64(columns)) != 0 }

    /// `gemma_quantized_matvec` on the memory-mapped blocks (the kernels decoding uses).
    public func multiplyRows(_ range: Range<Int>, by x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) -> Bool {
        guard multipliesRows, !range.isEmpty else { return multipliesRows }
        return file.withRawBytes(of: info) { raw in
            gemma_quantized_matvec(Int32(info.type.rawValue), raw.baseAddress!, Int64(range.lowerBound), Int64(range.upperBound),
                                   Int64(columns), x, y) == 0
        }
    }

    public func dequantizeRows(_ range: Range<Int>, into output: UnsafeMutablePointer<Float>) {
        let buffer = UnsafeMutableBufferPointer(start: output, count: range.count * columns)
        do {
            try file.dequantizeRows(info, range, into: buffer)
        } catch {
            preconditionFailure("\(info.name): \(error)")  // ranges are checked by the projection
        }
    }
}
