import ArgumentParser
import BiomechCore
import Foundation
import NumericsEngine

/// `biomechgpt bench …`: speed measurements that run our code and, where a peer exists,
/// the peer beside it in one run, printing the ratio. Never part of the test suite.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (build with -c release).",
        subcommands: [Engine.self, Generate.self, VQVAE.self, Train.self, Rank.self])

    struct Engine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Raw sgemm against the engine's linear layer at transformer shapes, and the non-matmul share of a Gemma 3 layer.")
        @Option(help: "Threads for BLAS and kernels.") var threads = 2

        func validate() throws { try OptionChecks.atLeast(1, threads, "--threads") }

        func run() throws {
            print(EngineBenchmark.run(threads: threads))
        }
    }
}

