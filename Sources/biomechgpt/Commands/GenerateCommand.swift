import ArgumentParser
import BiomechCore
import Foundation
import Gemma3Backbone
import NumericsEngine

/// `biomechgpt generate`: text generation with the Gemma 3 backbone, streamed to stdout.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text with the Gemma 3 backbone (tokens are streamed to stdout).")

    @Option(help: "GGUF model file or Hugging Face model directory (default: $BIOMECHGPT_MODEL or models/gemma-3-270m-q4_k_m.gguf).")
    var model: String?
    @Option(help: "The prompt text.") var prompt: String
    @Flag(help: "Wrap the prompt in the Gemma chat template (a user turn, then the model's turn).") var chat = false
    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.") var maxTokens = 64
    @Option(help: "Sampling temperature (0: greedy).") var temperature = 0.0
    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0: all).") var topK = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass.") var topP = 1.0
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "'file', or a random configuration ('tiny', 'small') for a quick demo.") var config = "file"
    @Option(help: "Threads for BLAS and kernels.") var threads = 2
    @Option(name: .customLong("context-length"), help: "Longest prompt plus generation.") var contextLength = 4096
    @Option(name: .customLong("projection-precision"),
            help: "Arithmetic of the prompt's projection products: float32 (exact) or bfloat16 (faster, inexact; docs/gemma3.md).")
    var projectionPrecision = "float32"
    @Flag(help: "Print timings to stderr.") var stats = false

    func validate() throws {
        for (value, minimum, option) in [(threads, 1, "--threads"), (maxTokens, 1, "--max-tokens"), (topK, 0, "--top-k"),
                                         (contextLength, 2, "--context-length")] {
            try OptionChecks.atLeast(minimum, value, option)
        }
        guard temperature.isFinite, temperature >= 0 else { throw InputError(field: "--temperature", "expected a number ≥ 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw InputError(field: "--top-p", "expected a number in (0, 1], got \(topP)") }
    }

    func run() throws {
        try reportingErrors {
            var parameters = ["config": config, "threads": String(threads), "seed": String(seed),
                              "context_length": String(contextLength), "projection_precision": projectionPrecision]
            if let model { parameters["model"] = model }
            let backbone = try Gemma3LanguageBackbone.make(PluginParameters(parameters, path: "generate"))
            let text = chat ? backbone.chatPrompt([ChatTurn(.user, prompt)], openModelTurn: true) : prompt
            let ids = backbone.textTokenizer.encode(text, addBOS: !chat)
            let options = GenerationOptions(maxNewTokens: maxTokens, temperature: temperature, topK: topK, topP: topP, seed: seed)
            var generated: [Int] = []
            var printer = StreamingTextPrinter()
            let stdout = FileHandle.standardOutput
            _ = try backbone.generate(BackboneInput(tokens: ids), options: options) { id in
                if backbone.stopTokens.contains(id) { return false }
                generated.append(id)
                printer.update(backbone.tokenizer.decode(generated, skipSpecialTokens: true))
                return true
            }
            printer.finish(backbone.tokenizer.decode(generated, skipSpecialTokens: true))
            stdout.write(Data("\n".utf8))
            if stats {
                let s = backbone.generator.stats
                let line = String(format: "prompt %d tokens in %.3f s (%.1f tokens/s); %d tokens generated, decoding %.1f tokens/s\n",
                                  s.promptTokens, s.prefillSeconds, Double(s.promptTokens) / max(s.prefillSeconds, 1e-9),
                                  s.generatedTokens, Double(max(s.generatedTokens - 1, 0)) / max(s.decodeSeconds, 1e-9))
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }
}
