import ArgumentParser
import BiomechCore
import ClinicalTasks
import Foundation
import Gemma3Backbone
import LoRAAdapter
import NumericsEngine

/// `biomechgpt adapter …`: tools around the PEFT-compatible adapter files.
struct AdapterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapter", abstract: "PEFT adapter files: inspect them, or write a check for Python's PEFT.",
        subcommands: [Inspect.self, PEFTCheck.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tensors and the configuration of a saved adapter.")
        @Argument(help: "The adapter directory (adapter_model.safetensors, adapter_config.json).") var directory: String

        func run() throws {
            try reportingErrors {
                let url = URL(fileURLWithPath: directory)
                let file = try SafetensorsFile(path: url.appendingPathComponent(PEFTFiles.weightsFile).path)
                if let config = FileManager.default.contents(atPath: url.appendingPathComponent(PEFTFiles.configFile).path) {
                    print(String(decoding: config, as: UTF8.self))
                }
                var total = 0
                for name in file.names {
                    let e = file.entries[name]!
                    total += e.elementCount
                    print("\(name)  \(e.dtype.rawValue) \(e.shape)")
                }
                print("\(file.names.count) tensors, \(total) values")
            }
        }
    }

    /// Writes an adapter with non-zero weights and the logits our model computes with it, for
    /// `scripts/peft/load_adapter_in_peft.py` to reproduce with transformers + PEFT.
    struct PEFTCheck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "peft-check",
            abstract: "Save a randomised LoRA adapter (and added motion-token rows) for Gemma 3 with our logits for a prompt, for comparison with Python's PEFT.")
        @Option(help: "The Gemma 3 GGUF file.") var model = "models/gemma-3-270m-q4_k_m.gguf"
        @Option(help: "Output directory (the adapter files and swift_reference.json).") var out: String
        @Option(help: "LoRA rank.") var rank = 32
        @Option(help: "Motion codebook size: adds <motion_start>, <motion_end> and this many <motion_i> rows (0: none).")
        var codebookSize = 16
        @Option(help: "Standard deviation of the random B matrices.") var bStd = 0.02
        @Option(help: "Seed.") var seed: UInt64 = 7
        @Option(help: "Threads.") var threads = 2

        func validate() throws {
            try OptionChecks.atLeast(1, threads, "--threads")
            try OptionChecks.atLeast(1, rank, "--rank")
            try OptionChecks.atLeast(0, codebookSize, "--codebook-size")
        }

        func run() throws {
            try reportingErrors {
                Threads.setCount(threads)
                let backbone = try Gemma3LanguageBackbone(modelAt: URL(fileURLWithPath: model), contextLength: 512, seed: seed)
                var motion: [Int] = []
                if codebookSize > 0 {
                    _ = try backbone.extendVocabulary(with: MotionText.vocabularyPieces(codebookSize: codebookSize))
                }
                let adapter = LoRAAdapter(configuration: .init(rank: rank, alpha: 32, dropout: 0.1, seed: seed,
                                                               baseModelName: "google/gemma-3-270m-it"))
                try adapter.attach(to: backbone)
                var rng = SeededRandom(seed: seed).derived("peft-check")
                for p in adapter.projections {
                    for i in 0..<p.loraB.value.count { p.loraB.value.data[i] = Float(rng.nextGaussian() * bStd) }
                }
                if let rows = backbone.addedTokenRows {
                    let d = backbone.embeddingWidth
                    for r in rows.rows {
                        for j in 0..<d { rows.embedding.value.data[r * d + j] += Float(rng.nextGaussian() * 0.05) }
                        motion.append(r)
                    }
                }
                adapter.isTraining = false
                let dir = URL(fileURLWithPath: out)
                try adapter.save(to: dir)
                let motionText = codebookSize > 0
                    ? MotionText.start + (0..<12).map { MotionText.tokenPiece(($0 * 5) % codebookSize) }.joined() + MotionText.end : ""
                let prompt = backbone.chatPrompt([ChatTurn(.user, "Is this gait impaired? \(motionText)")], openModelTurn: true)
                let ids = backbone.textTokenizer.encode(prompt, addBOS: false)
                let logits = try backbone.logits(for: BackboneInput(tokens: ids))
                let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(20)
                struct Reference: Encodable {
                    var prompt: String; var token_ids: [Int]; var vocabulary_size: Int; var added_rows: [Int]
                    var last_logits: [Float]; var top_ids: [Int]
                }
                try AtomicFile.writeJSON(Reference(prompt: prompt, token_ids: ids, vocabulary_size: backbone.vocabularySize,
                                                   added_rows: motion, last_logits: logits, top_ids: Array(top)),
                                         to: dir.appendingPathComponent("swift_reference.json"))
                print("wrote \(dir.path): adapter (\(adapter.projections.count) modules, \(motion.count) added rows), " +
                      "swift_reference.json (\(ids.count) prompt tokens, top id \(top.first ?? -1))")
            }
        }
    }
}
