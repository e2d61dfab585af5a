import ArgumentParser
import BiomechCore
import Foundation
import Gemma3Backbone

extension BenchCommand {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Gemma 3 prefill, decoding and short-answer latency beside llama.cpp and transformers (--python).")
        @Option(help: "The GGUF model (default: $BIOMECHGPT_MODEL or models/gemma-3-270m-q4_k_m.gguf).") var model: String?
        @Option(help: "Threads for BLAS and kernels (and for the peers).") var threads = 2
        @Option(name: .customLong("prefill-tokens")) var prefillTokens = 256
        @Option(name: .customLong("decode-tokens")) var decodeTokens = 64
        @Option(name: .customLong("answer-prompt-tokens")) var answerPromptTokens = 150
        @Option(name: .customLong("answer-tokens")) var answerTokens = 8
        @Option(help: "Repetitions (the best is reported).") var repeats = 3
        @Option(help: "Python with llama-cpp-python and/or transformers: runs scripts/peers/gemma_generate_peer.py.")
        var python: String?

        func validate() throws {
            for (value, minimum, option) in [(threads, 1, "--threads"), (prefillTokens, 1, "--prefill-tokens"),
                                             (decodeTokens, 1, "--decode-tokens"), (answerPromptTokens, 1, "--answer-prompt-tokens"),
                                             (answerTokens, 1, "--answer-tokens"), (repeats, 1, "--repeats")] {
                try OptionChecks.atLeast(minimum, value, option)
            }
        }

        func run() throws {
            try reportingErrors {
                let url = try ModelLocator.locate(environment: model.map { [ModelLocator.environmentVariable: $0] }
                                                  ?? ProcessInfo.processInfo.environment)
                var o = Gemma3Benchmark.Options(model: url)
                o.threads = threads; o.prefillTokens = prefillTokens; o.decodeTokens = decodeTokens
                o.answerPromptTokens = answerPromptTokens; o.answerTokens = answerTokens; o.repeats = repeats
                o.python = python
                let results = try Gemma3Benchmark.run(o) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
                print(Gemma3Benchmark.report(results, threads: threads))
            }
        }
    }
}
