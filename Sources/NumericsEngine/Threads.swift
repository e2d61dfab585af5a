import CBLAS
import CWorkerPool
import Foundation

/// The engine's thread setting and a parallel-for over index ranges.
///
/// `Threads.count` is used both by OpenBLAS (matrix products) and by the engine's own
/// kernels (elementwise work, normalisation rows, attention heads), which split their
/// index space into `count` contiguous ranges run on the calling thread and the workers of
/// `worker_pool_run` (Sources/CWorkerPool), which poll for the next job for a moment instead
/// of sleeping: a forward pass makes hundreds of short jobs, and a sleeping thread's wake-up
/// (libdispatch's workers sleep between jobs) costs as much as many of them.
/// Set it once at start-up with `Threads.setCount(_:)`; the default is the number of
/// processors OpenBLAS reports.
public enum Threads {
    nonisolated(unsafe) private static var current: Int = Swift.max(1, Int(openblas_get_num_procs()))

    /// The number of threads kernels and BLAS use.
    public static var count: Int { current }

    /// Sets the thread count for the engine's kernels and for OpenBLAS.
    /// Call it from one thread, before training or inference starts. It waits while another
    /// thread is inside ``withCount(_:_:)``.
    public static func setCount(_ n: Int) {
        precondition(n >= 1, "thread count must be at least 1")
        countLock.lock()
        defer { countLock.unlock() }
        current = n
        openblas_set_num_threads(Int32(n))
    }

    /// Held by every change of the thread counts (ours and OpenBLAS's, which are process-wide)
    /// and for the whole of a ``withCount(_:_:)`` call. Recursive: the holder may change them.
    private static let countLock = NSRecursiveLock()

    /// Runs `body` with `n` threads and restores the previous count, holding a process-wide
    /// lock so that no other thread changes the count meanwhile (``setCount(_:)`` and
    /// ``withSerialBLAS(_:)`` elsewhere wait for it). A run that must
    /// be bit-reproducible (OpenBLAS's blocking, and so its float rounding, depends on its
    /// thread count) uses it when other work in the process may change the count.
    public static func withCount<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        countLock.lock()
        defer { countLock.unlock() }
        let before = current
        setCount(n)
        defer { setCount(before) }
        return try body()
    }

    /// Runs `body` over `0..<n` split into at most `count` contiguous ranges, in parallel.
    ///
    /// `minPerThread` is the least work worth a thread: small loops run inline on the
    /// calling thread. `body` must only write to locations its own range owns.
    @inline(__always)
    public static func parallelFor(_ n: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        if n <= 0 { return }
        let parts = Swift.min(current, Swift.max(1, n / Swift.max(1, minPerThread)))
        if parts <= 1 { body(0..<n); return }
        runOnPool(parts) { i in body((n * i / parts)..<(n * (i + 1) / parts)) }
    }

    /// The number of parts `parallelFor(_:minPerThread:)` would split `n` items into.
    public static func partCount(_ n: Int, minPerThread: Int = 1) -> Int {
        Swift.max(1, Swift.min(current, n / Swift.max(1, minPerThread)))
    }

    /// Runs `body(part, range)` for `parts` contiguous ranges covering `0..<n`, in parallel.
    /// The part index lets a kernel use per-thread scratch buffers.
    public static func parallelParts(_ n: Int, parts: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        if n <= 0 { return }
        let parts = Swift.max(1, Swift.min(parts, n))
        if parts == 1 { body(0, 0..<n); return }
        runOnPool(parts) { i in body(i, (n * i / parts)..<(n * (i + 1) / parts)) }
    }

    /// Runs `chunk(i)` for every `i` in `0..<chunks` on the worker pool and returns when all
    /// are done (each chunk once, on whichever thread claims it; serially when the pool is
    /// busy, as for a nested call). The closure reaches C as a pointer to this frame's copy.
    @usableFromInline
    static func runOnPool(_ chunks: Int, _ chunk: (Int) -> Void) {
        withoutActuallyEscaping(chunk) { chunk in
            var job = chunk
            withUnsafeMutablePointer(to: &job) { pointer in
                _ = worker_pool_run(Int64(chunks), Int32(current), { context, i in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                }, pointer)
            }
        }
    }

    /// Runs `body` with OpenBLAS restricted to one thread, for code that issues many small
    /// matrix products from several of the engine's threads at once (attention heads).
    public static func withSerialBLAS<R>(_ body: () throws -> R) rethrows -> R {
        if current <= 1 { return try body() }
        countLock.lock()
        defer { countLock.unlock() }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(current)) }
        return try body()
    }
}

/// Carries a value into a `@Sendable` closure when the caller guarantees the accesses
/// are disjoint (kernels writing separate ranges of one buffer).
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}
