/// Another way to compute `y = x · Wᵀ` for one row `x`, from a different storage of the
/// same frozen weight — e.g. the quantized blocks the weight was dequantized from, which a
/// decoding step reads in a fraction of the bytes of the Float32 matrix.
///
/// ``Linear`` uses it for one-row forwards while its weight is frozen; it must give the
/// product of the same weight values (only the summation order may differ).
public protocol SingleRowProduct: AnyObject, Sendable {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// `y[outFeatures] = W · x[inFeatures]`.
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>)
}
