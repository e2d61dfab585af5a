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
            var results: [TrainBenchmark.Result] = []
            var peer: TrainBenchmark.Result? = nil
            let order = phases.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            for phase in order {
                FileHandle.standardError.write(Data("[bench train] \(phase)…\n".utf8))
                let args = ["bench", "train", "--phase", phase, "--model", model, "--threads", String(threads),
                            "--tokens", String(tokens), "--warmup", String(warmup), "--steps", String(steps),
                            "--steps-large", String(stepsLarge), "--rank", String(rank)]
                let (json, text) = try TrainBenchmark.child(executable, args, marker: "BENCH_RESULT")
                guard let json else { throw InputError(field: phase, "the benchmark child printed no result:\n\(text)") }
                results.append(try JSONDecoder().decode(TrainBenchmark.Result.self, from: json))
            }
            if let python {
                FileHandle.standardError.write(Data("[bench train] pytorch + peft…\n".utf8))
                let (json, text) = try TrainBenchmark.child(
                    python, [peerScript, "--model", model, "--tokens", String(tokens), "--warmup", String(warmup),
                             "--steps", String(steps), "--threads", String(threads), "--rank", String(rank)],
                    marker: "PEER_RESULT")
                guard let json else { throw InputError(file: peerScript, "the peer printed no result:\n\(text)") }
                struct Peer: Decodable {
                    var tokens_per_s: Double; var peak_rss_mb: Double; var step_seconds: [Double]; var load_seconds: Double
                    var trainable_parameters: Int; var losses: [Double]
                }
                let p = try JSONDecoder().decode(Peer.self, from: json)
                peer = TrainBenchmark.Result(name: "pytorch+peft lora", tokens: tokens, steps: steps, stepSeconds: p.step_seconds,
                                             tokensPerSecond: p.tokens_per_s, peakRSSMiB: p.peak_rss_mb, trainingPeakRSSMiB: nil,
                                             loadSeconds: p.load_seconds, trainableParameters: p.trainable_parameters,
                                             quantizedBaseBytes: nil, losses: p.losses)
            }
            print("Gemma 3 training benchmark — batch 1 × \(tokens) tokens, loss on every position, LoRA rank \(rank) alpha 32 dropout 0.1 on q,k,v,o,gate,up,down; AdamW; \(threads) thread(s)")
            print("(270M: \(model); 1B: random weights, hidden 1152, 26 layers, MLP 6912, vocabulary 262144)")
            print("")
            print("configuration           tokens/s  peak MiB  train-peak  base MiB  trainable  step seconds")
            for r in results + (peer.map { [$0] } ?? []) { print(TrainBenchmark.format(r)) }
            print("")
            if let lora = results.first(where: { $0.name == "lora" }) {
                print(String(format: "first losses: swift %.4f", lora.losses.first ?? .nan) +
                      (peer.map { String(format: ", pytorch %.4f", $0.losses.first ?? .nan) } ?? ""))
                if let peer {
                    print(String(format: "LoRA speed ratio (swift / pytorch): %.2f×   (target ≥ 1.5)", lora.tokensPerSecond / peer.tokensPerSecond))
                    print(String(format: "LoRA peak memory ratio (swift / pytorch): %.2f   (target ≤ 1)", lora.peakRSSMiB / peer.peakRSSMiB))
                }
            }
        }
    }
}

