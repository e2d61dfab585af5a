import ArgumentParser
import BiomechCore
import Foundation
import NumericsEngine

/// `biomechgpt bench …`: speed measurements that run our code and, where a peer exists,
/// the peer beside it in one run, printing the ratio. Never part of the test suite.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (build with -c release).",
        subcommands: [Engine.self, Train.self])

    struct Engine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Raw sgemm against the engine's linear layer at transformer shapes, and the non-matmul share of a Gemma 3 layer.")
        @Option(help: "Threads for BLAS and kernels.") var threads = 2

        func run() throws {
            print(EngineBenchmark.run(threads: threads))
        }
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "LoRA/QLoRA training tokens/s and peak memory of Gemma 3 (270M; QLoRA also a random 1B configuration), beside PyTorch + PEFT.")
        @Option(help: "The Gemma 3 270M GGUF file.") var model = "models/gemma-3-270m-q4_k_m.gguf"
        @Option(help: "Threads for BLAS and kernels (the peer uses as many).") var threads = 2
        @Option(help: "Tokens per training sequence (batch 1, loss on every position).") var tokens = 256
        @Option(help: "Untimed steps before measuring.") var warmup = 2
        @Option(help: "Timed steps.") var steps = 5
        @Option(help: "Timed steps of the 1B configuration.") var stepsLarge = 2
        @Option(help: "LoRA rank.") var rank = 32
        @Option(help: "Comma-separated configurations: lora, qlora-nf4, qlora-gguf, qlora-nf4-1b.")
        var phases = "lora,qlora-nf4,qlora-gguf,qlora-nf4-1b"
        @Option(help: "A Python with torch, transformers and peft: runs scripts/peers/peft_train_bench.py beside ours.")
        var python: String?
        @Option(help: "The peer script.") var peerScript = "scripts/peers/peft_train_bench.py"
        @Option(help: "Rounds of the LoRA run alternating with the peer.") var rounds = 2
        @Option(help: ArgumentHelp("Run one configuration in this process (used by the parent run).", visibility: .hidden))
        var phase: String?

        func run() throws {
            Threads.setCount(threads)
            if let phase {
                let r = try TrainBenchmark.run(phase: phase, modelPath: model, tokens: tokens, warmup: warmup,
                                               steps: phase.hasSuffix("-1b") ? stepsLarge : steps, rank: rank)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print("BENCH_RESULT " + String(decoding: try encoder.encode(r), as: UTF8.self))
                return
            }
            guard FileManager.default.fileExists(atPath: model) else {
                throw InputError(file: model, "model file not found; run `make model`")
            }
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let order = phases.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            var results: [String: TrainBenchmark.Result] = [:]
            func merge(_ r: TrainBenchmark.Result) {
                guard var m = results[r.name] else { results[r.name] = r; return }
                m.stepSeconds += r.stepSeconds
                m.losses += r.losses
                m.stepCPUSeconds = (m.stepCPUSeconds ?? []) + (r.stepCPUSeconds ?? [])
                m.peakRSSMiB = max(m.peakRSSMiB, r.peakRSSMiB)
                if let t = r.trainingPeakRSSMiB { m.trainingPeakRSSMiB = max(m.trainingPeakRSSMiB ?? 0, t) }
                m.tokensPerSecond = Double(m.tokens * m.stepSeconds.count) / m.stepSeconds.reduce(0, +)
                results[r.name] = m
            }
            // The LoRA run and the peer alternate for `rounds` rounds, so background load on a
            // shared machine affects both sides alike; the other configurations run once.
            for round in 0..<max(1, rounds) {
                for phase in order where round == 0 || phase == "lora" {
                    FileHandle.standardError.write(Data("[bench train] round \(round + 1): \(phase)…\n".utf8))
                    let args = ["bench", "train", "--phase", phase, "--model", model, "--threads", String(threads),
                                "--tokens", String(tokens), "--warmup", String(warmup), "--steps", String(steps),
                                "--steps-large", String(stepsLarge), "--rank", String(rank)]
                    let (json, text) = try TrainBenchmark.child(executable, args, marker: "BENCH_RESULT")
                    guard let json else { throw InputError(field: phase, "the benchmark child printed no result:\n\(text)") }
                    merge(try JSONDecoder().decode(TrainBenchmark.Result.self, from: json))
                }
                if let python {
                    FileHandle.standardError.write(Data("[bench train] round \(round + 1): pytorch + peft…\n".utf8))
                    let (json, text) = try TrainBenchmark.child(
                        python, [peerScript, "--model", model, "--tokens", String(tokens), "--warmup", String(warmup),
                                 "--steps", String(steps), "--threads", String(threads), "--rank", String(rank)],
                        marker: "PEER_RESULT")
                    guard let json else { throw InputError(file: peerScript, "the peer printed no result:\n\(text)") }
                    struct Peer: Decodable {
                        var tokens_per_s: Double; var peak_rss_mb: Double; var step_seconds: [Double]; var load_seconds: Double
                        var trainable_parameters: Int; var losses: [Double]; var step_cpu_seconds: [Double]?
                    }
                    let p = try JSONDecoder().decode(Peer.self, from: json)
                    merge(TrainBenchmark.Result(name: TrainBenchmark.peerName, tokens: tokens, steps: steps, stepSeconds: p.step_seconds,
                                                tokensPerSecond: p.tokens_per_s, peakRSSMiB: p.peak_rss_mb, trainingPeakRSSMiB: nil,
                                                loadSeconds: p.load_seconds, trainableParameters: p.trainable_parameters,
                                                quantizedBaseBytes: nil, losses: p.losses, stepCPUSeconds: p.step_cpu_seconds))
                }
            }
            print(TrainBenchmark.report(results: order.compactMap { results[$0] }, peer: results[TrainBenchmark.peerName],
                                        tokens: tokens, rank: rank, threads: threads, rounds: max(1, rounds), model: model))
        }
    }
}

