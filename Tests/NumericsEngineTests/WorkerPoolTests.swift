import CWorkerPool
import Foundation
import Synchronization
import Testing
@testable import NumericsEngine

/// The polling worker pool under `Threads.parallelFor`: every chunk exactly once, nested and
/// concurrent calls complete (serially when the pool is busy).
@Suite("Worker pool")
struct WorkerPoolTests {
    /// Counts how often each chunk ran.
    final class Counts: @unchecked Sendable {
        let values: UnsafeMutablePointer<Atomic<Int>>
        let count: Int
        init(_ n: Int) {
            count = n
            values = .allocate(capacity: n)
            for i in 0..<n { (values + i).initialize(to: Atomic(0)) }
        }
        deinit { values.deinitialize(count: count); values.deallocate() }
        var all: [Int] { (0..<count).map { values[$0].load(ordering: .relaxed) } }
    }

    static let countChunk: worker_pool_task = { context, chunk in
        let counts = Unmanaged<Counts>.fromOpaque(context!).takeUnretainedValue()
        counts.values[Int(chunk)].add(1, ordering: .relaxed)
    }

    @Test("every chunk runs exactly once, on the pool or serially")
    func everyChunkOnce() {
        for threads in [1, 2, 4] {
            for chunks in [1, 2, 3, 17, 1000, 70_000] {  // 70,000: more than one job holds
                let counts = Counts(chunks)
                let onPool = worker_pool_run(Int64(chunks), Int32(threads), Self.countChunk, Unmanaged.passUnretained(counts).toOpaque())
                #expect(counts.all == [Int](repeating: 1, count: chunks), "\(chunks) chunks, \(threads) threads")
                // (With threads and chunks to share, the job may still run serially when a
                // concurrently running test holds the pool.)
                if threads == 1 || chunks == 1 { #expect(onPool == 0, "\(chunks) chunks, \(threads) threads ran on the pool") }
            }
        }
        #expect(worker_pool_run(0, 2, Self.countChunk, nil) == 0, "no chunks: nothing runs")
    }

    @Test("a parallel loop inside a parallel loop runs serially and covers every index")
    func nestedLoops() {
        let n = 64, m = 100
        let counts = Counts(n * m)
        Threads.parallelFor(n) { outer in
            for i in outer {
                Threads.parallelFor(m) { inner in
                    for j in inner { counts.values[i * m + j].add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(counts.all == [Int](repeating: 1, count: n * m))
    }

    @Test("loops started from several threads at once each cover their indices")
    func concurrentLoops() async {
        let n = 10_000
        let results = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let counts = Counts(n)
                    for _ in 0..<25 {
                        Threads.parallelFor(n, minPerThread: 64) { r in for i in r { counts.values[i].add(1, ordering: .relaxed) } }
                    }
                    return counts.all
                }
            }
            var all: [[Int]] = []
            for await r in group { all.append(r) }
            return all
        }
        for r in results { #expect(r == [Int](repeating: 25, count: n)) }
    }
}
