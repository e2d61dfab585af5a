import BiomechCore
import Foundation
import GGUF
import NumericsEngine

/// `biomechgpt bench generate`: prefill and decoding speed, the latency of a short answer,
/// and peak memory of our Gemma 3, beside llama.cpp and transformers run by
/// `scripts/peers/gemma_generate_peer.py` on the same token ids in the same run.
public enum Gemma3Benchmark {
    public struct Options: Sendable {
        public var model: URL
        public var threads = 2
        public var prefillTokens = 256
        public var decodeTokens = 64
        public var answerPromptTokens = 150
        public var answerTokens = 8
        public var repeats = 3
        /// A Python interpreter with llama-cpp-python and/or transformers (nil: ours only).
        public var python: String?
        public var peerScript = "scripts/peers/gemma_generate_peer.py"
        public init(model: URL) { self.model = model }

        /// Every count must be positive; the error names the command-line option.
        public func validate() throws {
            for (flag, value) in [("--threads", threads), ("--prefill-tokens", prefillTokens), ("--decode-tokens", decodeTokens),
                                  ("--answer-prompt-tokens", answerPromptTokens), ("--answer-tokens", answerTokens),
                                  ("--repeats", repeats)] where value < 1 {
                throw InputError(field: flag, "expected a positive number, got \(value)")
            }
        }
    }

    public struct Result: Codable, Sendable {
        public var backend: String
        public var version: String?
        public var error: String?
        public var load_s: Double?
        public var prefill_s: Double?
        public var decode_s: Double?
        public var answer_s: Double?
        public var prefill_tokens: Int?
        public var decode_tokens: Int?
        public var answer_prompt_tokens: Int?
        public var answer_tokens: Int?
        public var peak_rss_mb: Double?
        public var answer_ids: [Int]?
    }

    static let text = """
        Gait assessment, right total knee arthroplasty, six weeks post-op. Walking speed 0.82 m/s, \
        cadence 104 steps/min, stride length 0.95 m. Timed Up and Go: 12.4 s. Peak knee flexion in swing \
        reduced to 48 degrees. The patient walks with a single-point cane in the left hand, with a shortened \
        right stance phase and reduced hip extension at terminal stance. Four Square Step Test 11.2 s. \
        No falls in the last six months; reports mild pain on stairs. 
        """

    /// The prompt ids: `prefill` (BOS + text, `prefillTokens` long) and `answer` (a
    /// chat-template question, `answerPromptTokens` long).
    public static func promptIDs(_ tokenizer: Gemma3TextTokenizer, _ o: Options) -> (prefill: [Int], answer: [Int]) {
        var body: [Int] = []
        while body.count < o.prefillTokens + o.answerPromptTokens { body += tokenizer.encode(text, addBOS: false) }
        let prefill = [tokenizer.bosID] + body.prefix(o.prefillTokens - 1)
        let head = tokenizer.encode("<bos><start_of_turn>user\n", addBOS: false)
        let question = tokenizer.encode(" What is the walking speed in m/s? Answer with a number.", addBOS: false)
        let tail = tokenizer.encode("<end_of_turn>\n<start_of_turn>model\n", addBOS: false)
        let fill = max(0, o.answerPromptTokens - head.count - question.count - tail.count)
        return (prefill, head + body.prefix(fill) + question + tail)
    }

    /// Runs our measurements and the peers', and returns the printable report.
    public static func run(_ o: Options, log: (String) -> Void = { print($0) }) throws -> [Result] {
        try o.validate()
        Threads.setCount(o.threads)
        let clock = ContinuousClock()
        var start = clock.now
        let file = try GGUFFile(url: o.model)
        let tokenizer = try Gemma3TextTokenizer(gguf: file)
        let model = try Gemma3Model(configuration: Gemma3Configuration(gguf: file), weights: GGUFWeights(file: file))
        let load = (clock.now - start).inSeconds
        let ids = promptIDs(tokenizer, o)
        let generator = Gemma3Generator(model: model)

        func prefillOnce(_ tokens: [Int]) -> Int {
            let cache = Gemma3KVCache(configuration: model.configuration, maxLength: tokens.count + o.decodeTokens + 1)
            let h = model.prefill(tokens, cache: cache)
            return Gemma3Sampler.argmax(model.logits(rows: [0], hidden: h).data, count: model.vocabularySize)
        }
        /// The best of `repeats` prefills, after a short warm-up one.
        func bestPrefillSeconds() -> Double {
            _ = prefillOnce(Array(ids.prefill.prefix(16)))
            var best = Double.infinity
            for _ in 0..<o.repeats {
                start = clock.now
                _ = prefillOnce(ids.prefill)
                best = min(best, (clock.now - start).inSeconds)
            }
            return best
        }
        let float32Prefill = bestPrefillSeconds()
        /// Decoding and the short answer, with the projections read as `version` says.
        func decodeAndAnswer(version: String, prefillSeconds: Double) -> Result {
            let cache = Gemma3KVCache(configuration: model.configuration, maxLength: ids.prefill.count + o.decodeTokens + 1)
            var next = Gemma3Sampler.argmax(model.logits(rows: [0], hidden: model.prefill(ids.prefill, cache: cache)).data,
                                            count: model.vocabularySize)
            start = clock.now
            for _ in 0..<o.decodeTokens {
                next = Gemma3Sampler.argmax(model.decode(next, cache: cache).data, count: model.vocabularySize)
            }
            let decode = (clock.now - start).inSeconds
            var bestAnswer = Double.infinity
            var answer: [Int] = []
            for _ in 0..<o.repeats {
                start = clock.now
                answer = generator.generate(prompt: ids.answer, options: GenerationOptions(maxNewTokens: o.answerTokens), stopTokens: [])
                bestAnswer = min(bestAnswer, (clock.now - start).inSeconds)
                log(String(format: "answer (%@): prefill + first token %.3f s, %d more tokens %.3f s", version,
                           generator.stats.prefillSeconds, generator.stats.generatedTokens - 1, generator.stats.decodeSeconds))
            }
            return Result(backend: "BiomechGPT (Swift)", version: version, load_s: load,
                          prefill_s: prefillSeconds, decode_s: decode, answer_s: bestAnswer,
                          prefill_tokens: ids.prefill.count, decode_tokens: o.decodeTokens,
                          answer_prompt_tokens: ids.answer.count, answer_tokens: o.answerTokens,
                          peak_rss_mb: ProcessMemory.peakResidentMegabytes, answer_ids: answer)
        }
        var results: [Result] = []
        if model.decodesFromQuantizedBlocks {
            results.append(decodeAndAnswer(version: "F32 prefill, decoding from GGUF blocks", prefillSeconds: float32Prefill))
            if BLAS.hasBFloat16Products {
                model.projectionPrecision = .bfloat16
                let bfloat16Prefill = bestPrefillSeconds()
                results.append(decodeAndAnswer(version: "bf16 prefill, decoding from GGUF blocks", prefillSeconds: bfloat16Prefill))
                model.projectionPrecision = .float32
            }
            model.decodesFromQuantizedBlocks = false
        }
        results.append(decodeAndAnswer(version: "F32 weights, OpenBLAS", prefillSeconds: float32Prefill))

        if let python = o.python {
            let idsFile = FileManager.default.temporaryDirectory.appendingPathComponent("biomechgpt-bench-ids-\(getpid()).json")
            let payload = try JSONSerialization.data(withJSONObject: ["prefill": ids.prefill, "answer": ids.answer])
            try payload.write(to: idsFile)
            defer { try? FileManager.default.removeItem(at: idsFile) }
            for backend in ["llamacpp", "transformers"] {
                log("running the \(backend) peer …")
                results.append(runPeer(python: python, script: o.peerScript, backend: backend, model: o.model,
                                       ids: idsFile, o: o))
            }
        }
        return results
    }

    static func runPeer(python: String, script: String, backend: String, model: URL, ids: URL, o: Options) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script, "--backend", backend, "--model", model.path, "--tokens", ids.path,
                             "--threads", String(o.threads), "--decode-tokens", String(o.decodeTokens),
                             "--answer-tokens", String(o.answerTokens), "--repeats", String(o.repeats)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            return Result(backend: backend, error: "cannot start \(python): \(error)")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let r = try? JSONDecoder().decode(Result.self, from: Data(lastLine.utf8)) else {
            return Result(backend: backend, error: "the peer exited with status \(process.terminationStatus) and no result")
        }
        return r
    }

    /// A table of the results with ratios against each peer.
    public static func report(_ results: [Result], threads: Int) -> String {
        func rate(_ n: Int?, _ s: Double?) -> Double? {
            guard let n, let s, s > 0 else { return nil }
            return Double(n) / s
        }
        func f(_ x: Double?, _ digits: Int = 1) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "—" }
        var lines = ["Gemma 3 270M generation benchmark — \(threads) thread(s), OpenBLAS kernels \(BLASKernels.coreName)", ""]
        lines.append("| system | prefill tok/s | decode tok/s | answer latency s | peak RSS MiB | load s |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for r in results {
            if let e = r.error { lines.append("| \(r.backend) | \(e) | | | | |"); continue }
            lines.append("| \(r.backend) (\(r.version ?? "")) | \(f(rate(r.prefill_tokens, r.prefill_s))) | "
                + "\(f(rate(r.decode_tokens, r.decode_s))) | \(f(r.answer_s, 3)) | \(f(r.peak_rss_mb, 0)) | \(f(r.load_s, 2)) |")
        }
        let ours = results.filter { $0.backend == results.first?.backend }
        if let first = ours.first {
            lines.append("")
            lines.append("prefill: \(first.prefill_tokens ?? 0) tokens; decode: \(first.decode_tokens ?? 0) greedy tokens after it; "
                + "answer: a \(first.answer_prompt_tokens ?? 0)-token chat prompt + \(first.answer_tokens ?? 0) generated tokens, end to end.")
        }
        for mine in ours {
            for peer in results where peer.backend != mine.backend && peer.error == nil {
                let pre = (rate(mine.prefill_tokens, mine.prefill_s) ?? 0) / (rate(peer.prefill_tokens, peer.prefill_s) ?? 1)
                let dec = (rate(mine.decode_tokens, mine.decode_s) ?? 0) / (rate(peer.decode_tokens, peer.decode_s) ?? 1)
                let ans = (mine.answer_s ?? 0) / (peer.answer_s ?? 1)
                lines.append(String(format: "ours (%@) vs %@: prefill %.2f×, decode %.2f×, answer latency %.2f× (ours / theirs)",
                                    mine.version ?? "", peer.backend, pre, dec, ans))
            }
        }
        return lines.joined(separator: "\n")
    }
}
