import ArgumentParser
import BiomechCore
import Foundation
import NumericsEngine
import VQVAETokenizer

extension BenchCommand {
    struct VQVAE: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vqvae",
            abstract: "VQ-VAE training throughput (frames/s), beside PyTorch on CPU with the same architecture and batch.",
            discussion: "Give --python (an interpreter with torch) to run scripts/peers/vqvae_torch_bench.py in the same run and print the ratio.")
        @Option(help: "Python interpreter with torch for the peer.") var python: String?
        @Option(name: .customLong("peer-script"), help: "The PyTorch peer script.") var peerScript = "scripts/peers/vqvae_torch_bench.py"
        @Option(help: "Input channels (38 = the biomech-model pose without pelvis translation).") var channels = 38
        @Option(help: "Windows per step.") var batch = 32
        @Option(help: "Frames per window.") var window = 64
        @Option(help: "Convolution width.") var width = 512
        @Option(name: .customLong("codebook-size")) var codebookSize = 512
        @Option(name: .customLong("codebook-dim")) var codebookDim = 512
        @Option(help: "Residual blocks per resolution.") var depth = 3
        @Option(help: "Frames per token.") var downsampling = 4
        @Option(help: "Timed steps.") var steps = 10
        @Option(help: "Untimed warm-up steps.") var warmup = 2
        @Option(help: "Threads for BLAS, kernels and torch.") var threads = 2
        @Option(help: "Product arithmetic: float32, or bfloat16 (mixed precision; the peer then also runs with bfloat16 autocast).")
        var precision = "float32"
        @Option(help: "Algorithms of the kernel-3 convolutions to time, comma-separated: direct, winograd.")
        var convolution = "direct,winograd"
        @Option(help: "Rounds; each times every configuration once, ours and the peer alternating, so that drifting background load hits both. The summary takes medians.")
        var rounds = 1

        func validate() throws {
            try OptionChecks.atLeast(1, threads, "--threads")
            try OptionChecks.atLeast(1, steps, "--steps")
            try OptionChecks.atLeast(0, warmup, "--warmup")
            try OptionChecks.atLeast(1, rounds, "--rounds")
        }

        func run() throws {
            try reportingErrors {
                var c = VQVAEConfiguration()
                c.batchSize = batch; c.window = window; c.width = width; c.codebookSize = codebookSize
                c.codebookDim = codebookDim; c.depth = depth; c.downsampling = downsampling; c.threads = threads
                c.steps = steps + warmup; c.warmupSteps = 0
                guard let p = ProductPrecision(rawValue: precision) else {
                    throw InputError(field: "--precision", "unknown precision '\(precision)'", allowed: ProductPrecision.allCases.map(\.rawValue))
                }
                c.precision = p
                let algorithms = try convolution.split(separator: ",").map { name in
                    guard let a = ConvolutionAlgorithm(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                        throw InputError(field: "--convolution", "unknown algorithm '\(name)'",
                                         allowed: ConvolutionAlgorithm.allCases.map(\.rawValue))
                    }
                    return a
                }
                guard !algorithms.isEmpty else {
                    throw InputError(field: "--convolution", "expected at least one algorithm", allowed: ConvolutionAlgorithm.allCases.map(\.rawValue))
                }
                try c.validate(path: "bench")
                print("vqvae training step: \(channels) channels, batch \(batch) × \(window) frames, width \(width), "
                      + "codebook \(codebookSize) × \(codebookDim), depth \(depth), downsampling \(downsampling), \(threads) threads, OpenBLAS kernels \(BLASKernels.coreName), "
                      + "products \(p.rawValue)\(p == .bfloat16 && !BLAS.hasBFloat16Products ? " (no AVX512-BF16 here: float32 used)" : "")")
                var peers = [("float32", [String]())]
                if p == .bfloat16 { peers.append(("bfloat16 autocast", ["--autocast-bf16"])) }
                // frames/s per configuration label, one entry per round.
                var samples: [String: [Double]] = [:]
                var labels: [String] = []
                func record(_ label: String, _ fps: Double, _ sps: Double) {
                    if samples[label] == nil { labels.append(label) }
                    samples[label, default: []].append(fps)
                    print(String(format: "  %@  %9.0f frames/s  (%.3f s/step)", label.padding(toLength: 40, withPad: " ", startingAt: 0), fps, sps))
                }
                for round in 1...rounds {
                    if rounds > 1 { print("round \(round) of \(rounds)") }
                    for a in algorithms {
                        c.convolution = a
                        let r = VQVAEBenchmark.run(configuration: c, channels: channels, steps: steps, warmup: warmup)
                        record("biomechgpt, \(a.rawValue) convolutions", r.framesPerSecond, r.secondsPerStep)
                    }
                    if let python {
                        for (label, extra) in peers {
                            let (fps, sps, version) = try runPeer(python: python, extra: extra)
                            record("PyTorch \(version) \(label)", fps, sps)
                        }
                    }
                }
                guard python != nil else { print("  (no --python given: PyTorch peer not run)"); return }
                func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
                print(rounds > 1 ? "medians over \(rounds) rounds:" : "ratios:")
                let ourLabels = labels.filter { $0.hasPrefix("biomechgpt") }, peerLabels = labels.filter { !$0.hasPrefix("biomechgpt") }
                for o in ourLabels {
                    for peer in peerLabels {
                        let ratios = zip(samples[o]!, samples[peer]!).map { $0 / $1 }
                        print(String(format: "  %@ / %@: %.2f× (median frames/s %.0f / %.0f; per round %@)", o, peer,
                                     median(samples[o]!) / median(samples[peer]!), median(samples[o]!), median(samples[peer]!),
                                     ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
                    }
                }
            }
        }

        /// Runs the PyTorch peer once; (frames/s, s/step, torch version).
        func runPeer(python: String, extra: [String]) throws -> (Double, Double, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [peerScript, "--channels", "\(channels)", "--batch", "\(batch)", "--window", "\(window)",
                                 "--width", "\(width)", "--codebook-size", "\(codebookSize)", "--codebook-dim", "\(codebookDim)",
                                 "--depth", "\(depth)", "--downsampling", "\(downsampling)", "--steps", "\(steps)",
                                 "--warmup", "\(warmup)", "--threads", "\(threads)"] + extra
            let pipe = Pipe()
            process.standardOutput = pipe
            do { try process.run() } catch {
                throw InputError(file: python, field: "--python", "cannot run the peer: \(error.localizedDescription)")
            }
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0,
                  let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last,
                  let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let fps = object["frames_per_s"] as? Double, let sps = object["seconds_per_step"] as? Double else {
                throw InputError(file: peerScript, "the PyTorch peer failed (exit \(process.terminationStatus))")
            }
            return (fps, sps, (object["torch"] as? String) ?? "?")
        }
    }
}
