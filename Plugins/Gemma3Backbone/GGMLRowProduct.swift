import CGemmaKernels
import GGUF
import NumericsEngine

/// One-row products `W · x` read straight from a GGUF tensor's quantized blocks
/// (`gemma_quantized_matvec`: AVX-512 kernels for Q4_0, Q5_0, Q8_0, Q4_K, Q5_K and Q6_K,
/// portable C for all of them). Attached to the dense projections of a model loaded from GGUF, so a
/// decoding step reads ≈ 5 bits per weight instead of the 32 of the dequantized copy; the
/// values are those the dense copy holds (only the summation order differs).
final class GGMLRowProduct: SingleRowProduct {
    let file: GGUFFile
    let info: GGUFTensorInfo
    var inFeatures: Int { info.rowLength }
    var outFeatures: Int { info.rowCount }

    /// Nil when the tensor's type has no kernel.
    init?(file: GGUFFile, info: GGUFTensorInfo) {
        guard info.dimensions.count == 2,
              gemma_quantized_matvec_handles(Int32(info.type.rawValue), Int64(info.rowLength)) != 0 else { return nil }
        self.file = file; self.info = info
    }

    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let type = Int32(info.type.rawValue), width = Int64(info.rowLength)
        // Split so that each part reads at least ≈ 32k weights: smaller parts cost more in
        // hand-over than they save. The parts run on the kernels' own polling pool
        // (`gemma_quantized_matvec_parallel`), not on Dispatch, whose wake-ups cost more
        // than most of these products.
        let threads = Threads.partCount(info.rowCount, minPerThread: Swift.max(1, 32_768 / Swift.max(1, info.rowLength)))
        file.withRawBytes(of: info) { raw in
            let status = gemma_quantized_matvec_parallel(type, raw.baseAddress!, Int64(info.rowCount), width, x, y,
                                                         Int32(threads))
            precondition(status == 0, "gemma_quantized_matvec: type \(self.info.type) not handled")
        }
    }
}
