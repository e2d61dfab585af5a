import ArgumentParser
import BiomechCore
import Foundation
import GGUF
import Gemma3Backbone
import LoRAAdapter
import NumericsEngine
import QLoRAAdapter

/// `biomechgpt bench train`: LoRA / QLoRA training throughput and peak memory of Gemma 3,
/// each configuration measured in a fresh child process (so each peak is its own), beside
/// PyTorch + PEFT (`scripts/peers/peft_train_bench.py`) when a Python is given.
enum TrainBenchmark {
    /// One measured configuration.
    struct Result: Codable {
        var name: String
        var tokens: Int
        var steps: Int
        var stepSeconds: [Double]
        var tokensPerSecond: Double
        /// VmHWM of the whole process (loading included), MiB.
        var peakRSSMiB: Double
        /// VmHWM measured from just before the first training step (the peak was reset after
        /// loading and quantizing), MiB; nil where the kernel does not allow the reset.
        var trainingPeakRSSMiB: Double?
        var loadSeconds: Double
        var trainableParameters: Int
        var quantizedBaseBytes: Int?
        var losses: [Double]
        /// Process CPU time (user + system, all threads) of each timed step.
        var stepCPUSeconds: [Double]?

        enum CodingKeys: String, CodingKey {
            case name, tokens, steps, stepSeconds = "step_seconds", tokensPerSecond = "tokens_per_s"
            case peakRSSMiB = "peak_rss_mb", trainingPeakRSSMiB = "training_peak_rss_mb", loadSeconds = "load_seconds"
            case trainableParameters = "trainable_parameters", quantizedBaseBytes = "quantized_base_bytes", losses
            case stepCPUSeconds = "step_cpu_seconds"
        }
    }

    static let phases = ["lora", "lora-bf16", "qlora-nf4", "qlora-gguf", "qlora-nf4-1b", "frozen"]

    /// The token ids both sides train on: `<bos>`, then a fixed pseudo-random walk.
    static func tokenIDs(_ n: Int) -> [Int] { [2] + (1..<n).map { 1000 + ($0 * 7919) % 200_000 } }

    /// Gemma 3 1B's shapes (hidden 1152, 26 layers, 4 heads, 1 KV head, head dim 256, MLP 6912).
    static func gemma1B() -> Gemma3Configuration {
        var c = Gemma3Configuration()
        c.hiddenSize = 1152; c.layerCount = 26; c.headCount = 4; c.kvHeadCount = 1; c.headDimension = 256
        c.intermediateSize = 6912; c.vocabularySize = 262_144; c.slidingWindow = 512; c.slidingWindowPattern = 6
        c.queryPreAttentionScalar = 256
        c.layerTypes = Gemma3Configuration.layerTypes(count: c.layerCount, pattern: c.slidingWindowPattern)
        return c
    }

    /// Runs one configuration in this process.
    static func run(phase: String, modelPath: String, tokens: Int, warmup: Int, steps: Int, rank: Int) throws -> Result {
        let loadStart = Date()
        let file = try GGUFFile(path: modelPath)
        let lora = LoRAConfiguration(rank: rank, alpha: 32, dropout: 0.1, seed: 0)
        let adapter = LoRAAdapter(configuration: lora)
        let qlora = phase.hasPrefix("qlora")
            ? QLoRAAdapter(configuration: .init(lora: lora, quantization: phase == "qlora-gguf" ? .gguf : .nf4, ggufPath: modelPath))
            : nil
        // NF4 quantizes each projection as it loads (the Float32 projections never exist together).
        let builder = qlora?.projectionBuilder
        let backbone: Gemma3LanguageBackbone
        if phase.hasSuffix("-1b") {
            let model = try Gemma3Model(configuration: gemma1B(), weights: RandomWeights(seed: 1), projectionBuilder: builder)
            backbone = try Gemma3LanguageBackbone(model: model, tokenizer: Gemma3TextTokenizer(gguf: file), contextLength: tokens)
        } else {
            backbone = try Gemma3LanguageBackbone(modelAt: URL(fileURLWithPath: modelPath), contextLength: tokens, projectionBuilder: builder)
        }
        var activeAdapter = adapter
        var quantizedBytes: Int? = nil
        switch phase {
        case "frozen":
            break  // no adapter: forward and backward through the frozen model only
        case "lora":
            try adapter.attach(to: backbone)
        case "lora-bf16":
            // The frozen projections' forward products in bfloat16 (mixed precision).
            try adapter.attach(to: backbone)
            backbone.model.projectionPrecision = .bfloat16
        case "qlora-nf4", "qlora-nf4-1b", "qlora-gguf":
            guard let q = qlora else { throw InputError(field: "phase", "'\(phase)' made no QLoRA adapter") }
            try q.attach(to: backbone)
            activeAdapter = q.lora
            quantizedBytes = q.quantizedBytes
        default:
            throw InputError(field: "phase", "unknown benchmark phase '\(phase)'", allowed: phases)
        }
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let afterLoad = ProcessMemory.residentMegabytes ?? .nan, loadPeak = ProcessMemory.peakResidentMegabytes ?? .nan
        let parameters = activeAdapter.trainableParameters
        let optimizer = AdamW(learningRate: 2e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
        let ids = tokenIDs(tokens)
        let mask = ids.indices.map { $0 > 0 }
        let reset = ProcessMemory.resetPeak()
        var times: [Double] = [], losses: [Double] = [], cpu: [Double] = []
        for step in 0..<(warmup + steps) {
            let start = Date(), cpuStart = processCPUSeconds()
            let (loss, _) = try backbone.trainingStep(tokens: [ids], lossMask: [mask], gradScale: 1)
            optimizer.step(parameters)
            for p in parameters { p.zeroGrad() }
            let elapsed = Date().timeIntervalSince(start)
            losses.append(loss)
            if step >= warmup { times.append(elapsed); cpu.append(processCPUSeconds() - cpuStart) }
            if step == 0 {
                FileHandle.standardError.write(Data(String(format: "[bench train] %@: RSS after loading %.0f MiB (peak %.0f), after the first step %.0f MiB (peak %.0f)\n",
                    phase, afterLoad, loadPeak, ProcessMemory.residentMegabytes ?? .nan, ProcessMemory.peakResidentMegabytes ?? .nan).utf8))
            }
        }
        let peak = ProcessMemory.peakResidentMegabytes ?? .nan
        return Result(name: phase, tokens: tokens, steps: steps, stepSeconds: times,
                      tokensPerSecond: Double(tokens * times.count) / times.reduce(0, +),
                      peakRSSMiB: peak, trainingPeakRSSMiB: reset ? peak : nil, loadSeconds: loadSeconds,
                      trainableParameters: parameters.reduce(0) { $0 + ($1.grad?.count ?? 0) },
                      quantizedBaseBytes: quantizedBytes, losses: losses, stepCPUSeconds: cpu)
    }

    /// User + system CPU time of the whole process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Runs `arguments` as a child process; returns the JSON after `marker` in its output.
    static func child(_ executable: String, _ arguments: [String], marker: String) throws -> (Data?, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(marker + " ") {
            return (Data(line.dropFirst(marker.count + 1).utf8), text)
        }
        return (nil, text)
    }

    static let peerName = "pytorch+peft lora"

    static func format(_ r: Result) -> String {
        let best = Double(r.tokens) / (r.stepSeconds.min() ?? .nan)
        let train = r.trainingPeakRSSMiB.map { String(format: "%10.0f", $0) } ?? String(repeating: " ", count: 9) + "–"
        let q = r.quantizedBaseBytes.map { String(format: "%9.1f", Double($0) / 1_048_576) } ?? String(repeating: " ", count: 8) + "–"
        let times = r.stepSeconds.map { String(format: "%.2f", $0) }.joined(separator: " ")
        let cpu = (r.stepCPUSeconds?.min()).map { String(format: "%8.2f", $0) } ?? "       –"
        return r.name.padding(toLength: 20, withPad: " ", startingAt: 0)
            + String(format: "%9.1f %9.1f %9.0f ", r.tokensPerSecond, best, r.peakRSSMiB) + train + " " + q + " " + cpu
            + String(format: " %10d", r.trainableParameters) + "  [" + times + "]"
    }

    static func report(results: [Result], peer: Result?, tokens: Int, rank: Int, threads: Int, rounds: Int, model: String) -> String {
        var lines = [
            "Gemma 3 training benchmark — batch 1 × \(tokens) tokens, loss on every position, LoRA rank \(rank), alpha 32, dropout 0.1 " +
            "on q,k,v,o,gate,up,down; AdamW (lr 2e-4); \(threads) thread(s), OpenBLAS kernels \(BLASKernels.coreName); \(rounds) round(s) of LoRA alternating with the peer",
            "270M: \(model); 1B: random weights (hidden 1152, 26 layers, 4/1 heads of 256, MLP 6912, vocabulary 262144)",
            "tok/s: mean over all timed steps; best: from the fastest step. Peak: VmHWM of the process, loading included; " +
            "train-peak: VmHWM reset after loading and quantizing.",
            "",
            "CPU-s: the least process CPU time (all threads, user + system) of a step — less sensitive to other load than wall time.",
            "",
            "configuration           tok/s      best  peak MiB train-peak  base MiB    CPU-s  trainable  step seconds",
        ]
        lines += (results + (peer.map { [$0] } ?? [])).map(format)
        lines.append("")
        if let lora = results.first(where: { $0.name == "lora" }) {
            lines.append(String(format: "first-step loss on the same tokens: swift %.5f", lora.losses.first ?? .nan)
                         + (peer.map { String(format: ", pytorch %.5f", $0.losses.first ?? .nan) } ?? ""))
            if let peer {
                let bestRatio = (peer.stepSeconds.min() ?? .nan) / (lora.stepSeconds.min() ?? .nan)
                lines.append(String(format: "LoRA speed, swift / pytorch: %.2f× (mean), %.2f× (best)   target ≥ 1.5",
                                    lora.tokensPerSecond / peer.tokensPerSecond, bestRatio))
                if let a = lora.stepCPUSeconds?.min(), let b = peer.stepCPUSeconds?.min() {
                    lines.append(String(format: "LoRA CPU time per step, pytorch / swift: %.2f×", b / a))
                }
                lines.append(String(format: "LoRA peak memory, swift / pytorch: %.2f   target ≤ 1", lora.peakRSSMiB / peer.peakRSSMiB))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension BenchCommand {
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
        @Option(help: "Comma-separated configurations: lora, lora-bf16 (bfloat16 forward products of the frozen projections), qlora-nf4, qlora-gguf, qlora-nf4-1b.")
        var phases = "lora,qlora-nf4,qlora-gguf,qlora-nf4-1b"
        @Option(help: "A Python with torch, transformers and peft: runs scripts/peers/peft_train_bench.py beside ours.")
        var python: String?
        @Option(help: "The peer script.") var peerScript = "scripts/peers/peft_train_bench.py"
        @Option(help: "Rounds of the LoRA run alternating with the peer.") var rounds = 2
        @Option(help: ArgumentHelp("Run one configuration in this process (used by the parent run).", visibility: .hidden))
        var phase: String?

        func validate() throws {
            for (value, minimum, option) in [(threads, 1, "--threads"), (tokens, 2, "--tokens"), (warmup, 0, "--warmup"),
                                             (steps, 1, "--steps"), (stepsLarge, 1, "--steps-large"), (rank, 1, "--rank"),
                                             (rounds, 1, "--rounds")] {
                try OptionChecks.atLeast(minimum, value, option)
            }
        }

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
