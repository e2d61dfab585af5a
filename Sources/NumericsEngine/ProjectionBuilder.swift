import Foundation

/// Builds one frozen projection from its Float32 weight `[out, in]` as a backbone loads it —
/// for example quantizing it at once — so that a model whose projections end up quantized
/// never holds all of them in Float32 (a 1B-parameter model's projections are 2.8 GB in
/// Float32, 0.35 GB in NF4). `moduleName` is the PEFT / Hugging Face module name
/// (`model.layers.0.self_attn.q_proj`). Without a builder a backbone keeps a frozen `Linear`.
public typealias ProjectionBuilder = @Sendable (_ moduleName: String, _ weight: Tensor) throws -> any Projection

/// An adapter that wants the base projections built its own way as the backbone loads (QLoRA
/// with NF4 quantizes each one at once). The fine-tuning stage makes such an adapter before the
/// backbone and passes its builder through ``ProjectionBuilding``.
public protocol ProjectionBuildingAdapter {
    /// nil when this configuration builds nothing at load time.
    var projectionBuilder: ProjectionBuilder? { get }
}

/// The projection builder in effect while a backbone is being made on this thread: set around
/// a plugin registry's `make` by a caller that already knows the adapter (the fine-tuning
/// stage, with a ``ProjectionBuildingAdapter``), read by backbone factories, so the registry needs no extra
/// argument. (A thread's dictionary rather than a task-local value: the command-line tool
/// makes backbones from synchronous code outside any task.)
public enum ProjectionBuilding {
    private static let key = "BiomechGPT.ProjectionBuilder"

    /// The builder set by the innermost enclosing ``with(_:_:)`` on this thread, if any.
    public static var current: ProjectionBuilder? { Thread.current.threadDictionary[key] as? ProjectionBuilder }

    /// Runs `body` with `builder` as ``current`` on this thread (nil: none), then restores the previous one.
    public static func with<T>(_ builder: ProjectionBuilder?, _ body: () throws -> T) rethrows -> T {
        let dictionary = Thread.current.threadDictionary
        let previous = dictionary[key]
        dictionary[key] = builder
        defer { dictionary[key] = previous }
        return try body()
    }
}
