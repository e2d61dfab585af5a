/// A named, learnable tensor with its gradient.
///
/// Names are dotted paths as in PyTorch / safetensors checkpoints
/// (`layers.3.self_attn.q_proj.weight`), so a parameter can be saved, loaded, frozen and
/// wrapped by an adapter by name.
///
/// Gradients *accumulate*: every backward pass adds into `grad`, so several
/// micro-batches can be summed before one optimizer step. Call `zeroGrad()` (or
/// `ParameterStore.zeroGrads()`) after the step.
///
/// A frozen parameter (`isTrainable == false`) has no gradient buffer; layers skip the
/// work of its gradient (a frozen linear weight costs only the input-gradient product).
///
/// `trainableRows` makes only a contiguous range of rows of a matrix trainable (the new
/// motion-token rows of an embedding table, say). The gradient then has shape
/// `[trainableRows.count] + value.shape.dropFirst()` and holds the gradient of those
/// rows only; the optimizer updates only them.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public private(set) var grad: Tensor?
    public private(set) var trainableRows: Range<Int>?

    /// Creates a parameter; a trainable one gets a zeroed gradient buffer.
    public init(name: String, value: Tensor, isTrainable: Bool = true) {
        self.name = name
        self.value = value
        if isTrainable { grad = Tensor(shape: value.shape) }
    }

    /// Whether the parameter receives a gradient and is updated by the optimizer.
    public var isTrainable: Bool { grad != nil }

    /// Freezes the parameter and releases its gradient buffer.
    public func freeze() { grad = nil; trainableRows = nil }

    /// Makes the whole parameter trainable (a zeroed gradient of the full shape).
    public func unfreeze() {
        trainableRows = nil
        if grad?.count != value.count { grad = Tensor(shape: value.shape) }
    }

    /// Makes only rows `rows` (along the first dimension) trainable.
    public func setTrainableRows(_ rows: Range<Int>) {
        let first = value.shape.first ?? 0
        precondition(rows.lowerBound >= 0 && rows.upperBound <= first,
                     "\(name): trainable rows \(rows) outside 0..<\(first)")
        trainableRows = rows
        grad = Tensor(shape: [rows.count] + value.shape.dropFirst())
    }

    /// The first value row the gradient buffer covers (0 unless `trainableRows` is set).
    public var gradRowOffset: Int { trainableRows?.lowerBound ?? 0 }

    /// Zeroes the accumulated gradient.
    public func zeroGrad() { grad?.zero() }
}

/// An ordered collection of parameters addressed by dotted name.
///
/// A model registers each layer's parameters here once; the store then drives
/// freezing (`freeze(prefix:)`), zeroing, clipping, optimizer steps and checkpoint
/// input/output.
public final class ParameterStore: @unchecked Sendable {
    public private(set) var all: [Parameter] = []
    private var index: [String: Int] = [:]

    public init() {}

    public init(_ parameters: [Parameter]) { for p in parameters { add(p) } }

    /// Adds a parameter; names must be unique.
    public func add(_ parameter: Parameter) {
        precondition(index[parameter.name] == nil, "duplicate parameter name \(parameter.name)")
        index[parameter.name] = all.count
        all.append(parameter)
    }

    /// Adds every parameter of a layer.
    public func add(_ layer: any ParameterizedLayer) { for p in layer.parameters { add(p) } }

    public subscript(name: String) -> Parameter? { index[name].map { all[$0] } }

    public var names: [String] { all.map(\.name) }
    public var trainable: [Parameter] { all.filter(\.isTrainable) }

    /// Total number of scalars, and of trainable scalars.
    public var scalarCount: Int { all.reduce(0) { $0 + $1.value.count } }
    public var trainableScalarCount: Int { all.reduce(0) { $0 + ($1.grad?.count ?? 0) } }

    public func zeroGrads() { for p in all { p.zeroGrad() } }

    /// Freezes every parameter whose name starts with `prefix` (all of them for "").
    public func freeze(prefix: String = "") { for p in all where p.name.hasPrefix(prefix) { p.freeze() } }

    /// Unfreezes every parameter whose name starts with `prefix`.
    public func unfreeze(prefix: String = "") { for p in all where p.name.hasPrefix(prefix) { p.unfreeze() } }

    /// The parameter values by name (for `Safetensors.write`).
    public var valuesByName: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.value) })
    }
}

/// A layer that owns parameters.
public protocol ParameterizedLayer: AnyObject {
    /// The layer's parameters, in a stable order.
    var parameters: [Parameter] { get }
}
