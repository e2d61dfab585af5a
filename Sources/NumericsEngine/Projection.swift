/// A linear map `y = x · Wᵀ (+ b)` from `[rows, inFeatures]` to `[rows, outFeatures]`: what a
/// model's attention and MLP projections are, and what adapters replace.
///
/// A backbone builds its projections as `Projection`s (a dense `Linear`, or a frozen
/// quantized weight that is dequantized tile by tile) and exposes them by name, so a LoRA
/// or QLoRA adapter can wrap any of them without the backbone knowing about adapters.
/// Same ownership rules as `Linear`: the returned tensors belong to the layer and are
/// overwritten by the next call; `backward` follows the matching `forward`.
public protocol Projection: ParameterizedLayer {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Whether `backward` computes the input gradient (false for a first layer).
    var computeInputGradient: Bool { get set }
    func forward(_ x: Tensor) -> Tensor
    /// Accumulates the gradients of trainable parameters and returns the input gradient
    /// (nil when `computeInputGradient` is false).
    @discardableResult func backward(_ gradOutput: Tensor) -> Tensor?
}

extension Linear: Projection {}
