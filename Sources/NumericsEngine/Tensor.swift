import BiomechCore

/// A contiguous, row-major (C order) array of `Float` with a shape.
///
/// `Tensor` is a reference type that owns one heap buffer. Layers keep their outputs
/// and gradient buffers as `Tensor`s and reuse them from step to step: `resize(_:)`
/// only reallocates when the new shape needs more elements than the buffer holds, so
/// after the first step a training loop allocates nothing.
///
/// Layout: the last dimension varies fastest. A shape `[rows, columns]` stores element
/// `(r, c)` at `data[r * columns + c]`. Activations use `[tokens, features]` (with
/// `tokens = batch * time` for sequence models) and convolutional activations use
/// PyTorch's `[batch, channels, time]`.
///
/// Kernels read and write `data` directly; there are no bounds checks in hot loops.
/// The type is `@unchecked Sendable`: a tensor may be handed to worker threads, and the
/// engine's kernels split it into disjoint ranges, but callers must not mutate one
/// tensor from two threads at once.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// The number of elements (the product of `shape`).
    public private(set) var count: Int
    /// Elements the buffer can hold without reallocating.
    public private(set) var capacity: Int
    /// The first element. Valid for `count` elements; stable until a `resize` that grows the buffer.
    public private(set) var data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
        let n = shape.reduce(1, *)
        self.shape = shape
        self.count = n
        self.capacity = Swift.max(n, 1)
        self.data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    /// A tensor holding `values` (row-major), which must have `shape`'s element count.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor(shape: \(shape)) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.update(from: base, count: count) }
        }
    }

    /// A tensor with every element equal to `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        fill(value)
    }

    deinit { data.deallocate() }

    /// Normally distributed values with mean 0 and standard deviation `std`.
    public static func randomNormal(shape: [Int], std: Float, using rng: inout SeededRandom) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = Float(rng.nextGaussian()) * std }
        return t
    }

    /// Uniformly distributed values in `[-bound, bound)`.
    public static func randomUniform(shape: [Int], bound: Float, using rng: inout SeededRandom) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = (rng.nextFloat() * 2 - 1) * bound }
        return t
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The last dimension (1 for a scalar).
    public var lastDimension: Int { shape.last ?? 1 }
    /// `count / lastDimension`: the number of rows when the tensor is read as a matrix.
    public var rowCount: Int { lastDimension == 0 ? 0 : count / lastDimension }

    /// Element `i` in row-major order (for tests and debugging; kernels use `data`).
    public subscript(i: Int) -> Float {
        get { precondition(i >= 0 && i < count); return data[i] }
        set { precondition(i >= 0 && i < count); data[i] = newValue }
    }

    /// A copy of the elements as an array.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Changes the shape without touching the data; the element count must not change.
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        precondition(n == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        shape = newShape
    }

    /// Gives the tensor a new shape, reallocating only if the buffer is too small.
    /// The contents are unspecified afterwards (old values, or zeros after a reallocation).
    public func resize(_ newShape: [Int]) {
        precondition(newShape.allSatisfy { $0 >= 0 }, "Tensor shape \(newShape) has a negative dimension")
        let n = newShape.reduce(1, *)
        if n > capacity {
            data.deallocate()
            capacity = n
            data = .allocate(capacity: n)
            data.initialize(repeating: 0, count: n)
        }
        shape = newShape
        count = n
    }

    /// Returns `existing` resized to `shape`, or a new tensor when there is none.
    /// This is how layers keep one output buffer across steps.
    public static func reuse(_ existing: Tensor?, shape: [Int]) -> Tensor {
        if let existing { existing.resize(shape); return existing }
        return Tensor(shape: shape)
    }

    /// Copies `other`'s elements; the shapes must have the same element count.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    /// A new tensor with the same shape and a copy of the data.
    /// The transpose of a matrix, `[rows, columns]` → `[columns, rows]` (a new tensor).
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed: a matrix is needed, got \(shape)")
        let r = shape[0], c = shape[1]
        let t = Tensor(shape: [c, r])
        for i in 0..<r { for j in 0..<c { t.data[j * r + i] = data[i * c + j] } }
        return t
    }

    public func clone() -> Tensor {
        let t = Tensor(shape: shape)
        t.copy(from: self)
        return t
    }

    public var description: String {
        let preview = (0..<Swift.min(count, 6)).map { String(data[$0]) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(preview)\(count > 6 ? ", …" : "")])"
    }
}
