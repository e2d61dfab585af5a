import ArgumentParser
import BiomechCore
import BiomechPipeline
import ClinicalTasks
import Foundation
import MotionData
import VQVAETokenizer

/// `biomechgpt tokenizer train | encode | eval`: the motion tokenizer on its own, outside a
/// recipe run. A tokenizer directory holds `model/` (weights + config.json),
/// `representation/` (the fitted normalisation), `split.json`, `checkpoints/`,
/// `progress.jsonl` and `tokenizer-run.json` (which plugins, which data, which settings).
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Train, apply and evaluate motion tokenizers.",
        subcommands: [Train.self, Encode.self, Eval.self])

    /// What `train` records about a tokenizer directory.
    struct RunRecord: Codable {
        var tokenizer: String
        var tokenizerParameters: [String: String]
        var representation: String
        var representationParameters: [String: String]
        var data: String
        var splitSeed: UInt64
        var trainFraction: Double
        var validationFraction: Double
        var trainingTrials: Int
        var validationTrials: Int
        var trainedSteps: Int?
        var seconds: Double?
        enum CodingKeys: String, CodingKey {
            case tokenizer, tokenizerParameters = "tokenizer_parameters", representation
            case representationParameters = "representation_parameters", data, splitSeed = "split_seed"
            case trainFraction = "train_fraction", validationFraction = "validation_fraction"
            case trainingTrials = "training_trials", validationTrials = "validation_trials"
            case trainedSteps = "trained_steps", seconds
        }
    }

    static func keyValues(_ items: [String], option: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw InputError(field: option, "expected key=value, got '\(item)'")
            }
            out[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return out
    }

    static func fittedModels(_ dir: URL, representationOverride: String?) throws
        -> (RunRecord?, any MotionRepresentation, any Tokenizer) {
        let recordURL = dir.appendingPathComponent("tokenizer-run.json")
        let record = FileManager.default.fileExists(atPath: recordURL.path) ? try SignalOps.readJSON(RunRecord.self, from: recordURL) : nil
        let registry = PluginCatalog.registry
        guard let repID = representationOverride ?? record?.representation else {
            throw InputError(file: recordURL.path, "no tokenizer-run.json here; pass --representation")
        }
        let representation: any MotionRepresentation = try registry.make(
            .representation, id: repID, parameters: PluginParameters(record?.representationParameters ?? [:], path: "representation"))
        try representation.load(from: dir.appendingPathComponent("representation"))
        let tokenizer: any Tokenizer = try registry.make(
            .tokenizer, id: record?.tokenizer ?? "vqvae", parameters: PluginParameters(record?.tokenizerParameters ?? [:], path: "tokenizer"))
        try tokenizer.load(from: dir.appendingPathComponent("model"))
        return (record, representation, tokenizer)
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit the representation and train a tokenizer on the training participants.",
            discussion: """
                Splits the data set by participant (seeded), fits the representation's normalisation on the \
                training split, trains on windows of the training trials and reports on the validation trials. \
                Checkpoints go to OUT/checkpoints every checkpoint_every steps; running the same command again \
                resumes from the newest one and ends identical to an uninterrupted run.
                """)
        @Option(help: "Data set (.h5).") var data: String
        @Option(help: "Representation plugin id.") var representation = "biomech-model"
        @Option(name: .customLong("representation-param"), help: "Representation parameter key=value (repeatable).")
        var representationParams: [String] = []
        @Option(help: "Tokenizer plugin id.") var tokenizer = "vqvae"
        @Option(name: .customLong("param"), help: "Tokenizer parameter key=value (repeatable), e.g. --param width=256.")
        var params: [String] = []
        @Option(help: "Optimizer steps (the tokenizer's `steps` parameter).") var steps: Int?
        @Option(name: .customLong("split-seed"), help: "Seed of the participant split.") var splitSeed: UInt64 = 1
        @Option(name: .customLong("train-fraction"), help: "Fraction of participants for training.") var trainFraction = 0.8
        @Option(name: .customLong("validation-fraction"), help: "Fraction for validation (the rest is the test set).")
        var validationFraction = 0.1
        @Option(help: "Output directory.") var out: String
        @Option(name: .customLong("stop-after"), help: "Stop after this many steps, as an interrupted run would (resume by running again without it).")
        var stopAfter: Int?

        func run() throws {
            try reportingErrors {
                let start = Date()
                let dir = URL(fileURLWithPath: out)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let dataset = try HDF5Store.read(URL(fileURLWithPath: data))
                let split = try ParticipantSplit.make(dataset, train: trainFraction, validation: validationFraction, seed: splitSeed)
                let parts = try split.partition(dataset.trials)
                let training = parts[.train] ?? [], validation = parts[.validation] ?? []
                let registry = PluginCatalog.registry
                let repParams = try TokenizerCommand.keyValues(representationParams, option: "--representation-param")
                var tokParams = try TokenizerCommand.keyValues(params, option: "--param")
                if let steps { tokParams["steps"] = "\(steps)" }
                let rep: any MotionRepresentation = try registry.make(.representation, id: representation,
                                                                      parameters: PluginParameters(repParams, path: "representation"))
                let tok: any Tokenizer = try registry.make(.tokenizer, id: tokenizer, parameters: PluginParameters(tokParams, path: "tokenizer"))
                if let stopAfter, let vq = tok as? VQVAETokenizer { vq.interruptAfterStep = stopAfter }
                var record = RunRecord(tokenizer: tokenizer, tokenizerParameters: tokParams, representation: representation,
                                       representationParameters: repParams, data: data, splitSeed: splitSeed,
                                       trainFraction: trainFraction, validationFraction: validationFraction,
                                       trainingTrials: training.count, validationTrials: validation.count)
                try split.save(to: dir.appendingPathComponent("split.json"))
                try AtomicFile.writeJSON(record, to: dir.appendingPathComponent("tokenizer-run.json"))
                try rep.fit(training: training)
                try rep.save(to: dir.appendingPathComponent("representation"))
                let trainFeatures = try training.map { try rep.features(of: $0) }
                let validationFeatures = try validation.map { try rep.features(of: $0) }
                let progress = ProgressLog(label: "tokenizer", minimumInterval: 5,
                                           jsonLinesFile: dir.appendingPathComponent("progress.jsonl"))
                progress.note("\(training.count) training trials of \(split.train.count) participants, \(validation.count) validation trials of \(split.validation.count); \(rep.channelNames.count) channels")
                try tok.train(training: trainFeatures, validation: validationFeatures,
                              checkpointDirectory: dir.appendingPathComponent("checkpoints"), progress: progress)
                if let stopAfter, let vq = tok as? VQVAETokenizer, vq.trainedSteps <= stopAfter,
                   vq.trainedSteps < vq.configuration.steps {
                    print("stopped after step \(vq.trainedSteps); run the command again (without --stop-after) to resume")
                    return
                }
                try tok.save(to: dir.appendingPathComponent("model"))
                record.trainedSteps = (tok as? VQVAETokenizer)?.trainedSteps
                record.seconds = Date().timeIntervalSince(start)
                try AtomicFile.writeJSON(record, to: dir.appendingPathComponent("tokenizer-run.json"))
                print("wrote \(dir.appendingPathComponent("model").path)" + String(format: " (%.0f s)", record.seconds ?? 0))
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encode every trial of a data set (JSON Lines, one trial per line).")
        @Option(name: .customLong("tokenizer"), help: "Directory written by `tokenizer train`.") var tokenizerDirectory: String
        @Option(help: "Data set (.h5).") var data: String
        @Option(help: "Output JSON Lines file.") var out: String
        @Option(help: "Representation plugin id (default: the one recorded in tokenizer-run.json).") var representation: String?
        @Option(help: "Split file (default: the tokenizer directory's split.json).") var split: String?

        func run() throws {
            try reportingErrors {
                let dir = URL(fileURLWithPath: tokenizerDirectory)
                let (_, rep, tok) = try TokenizerCommand.fittedModels(dir, representationOverride: representation)
                let dataset = try HDF5Store.read(URL(fileURLWithPath: data))
                let splitURL = split.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("split.json")
                let participantSplit = FileManager.default.fileExists(atPath: splitURL.path) ? try ParticipantSplit.load(from: splitURL) : nil
                var records: [EncodingRecord] = []
                var steps = 0
                for trial in dataset.trials {
                    let encoding = try tok.encode(try rep.features(of: trial))
                    steps += encoding.stepCount
                    records.append(EncodingRecord(trialID: trial.id, participantID: trial.participantID,
                                                  split: participantSplit?.side(of: trial) ?? .test, encoding: encoding))
                }
                try JSONLines.write(records, to: URL(fileURLWithPath: out))
                print("wrote \(out): \(records.count) trials, \(steps) steps (\(tok.framesPerStep) frames per step)")
            }
        }
    }

    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reconstruction error in degrees on held-out participants, codebook usage, and an SVG of one trial.")
        @Option(name: .customLong("tokenizer"), help: "Directory written by `tokenizer train`.") var tokenizerDirectory: String
        @Option(help: "Data set (.h5).") var data: String
        @Option(help: "Participants to evaluate: test, validation, heldout (validation + test), train or all.")
        var side = "heldout"
        @Option(help: "Representation plugin id (default: the one recorded in tokenizer-run.json).") var representation: String?
        @Option(help: "Split file (default: the tokenizer directory's split.json).") var split: String?
        @Flag(help: "Print the evaluation as JSON.") var json = false
        @Option(help: "Write an SVG of original against reconstruction for one trial.") var svg: String?
        @Option(help: "Trial id for the SVG (default: the first evaluated trial).") var trial: String?

        func run() throws {
            try reportingErrors {
                let dir = URL(fileURLWithPath: tokenizerDirectory)
                let (_, rep, tok) = try TokenizerCommand.fittedModels(dir, representationOverride: representation)
                let dataset = try HDF5Store.read(URL(fileURLWithPath: data))
                let splitURL = split.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("split.json")
                let participantSplit = try ParticipantSplit.load(from: splitURL)
                let sides: Set<SplitSide>
                switch side {
                case "test": sides = [.test]
                case "validation": sides = [.validation]
                case "heldout": sides = [.validation, .test]
                case "train": sides = [.train]
                case "all": sides = Set(SplitSide.allCases)
                default: throw InputError(field: "--side", "unknown side '\(side)'", allowed: ["test", "validation", "heldout", "train", "all"])
                }
                let trials = dataset.trials.filter { participantSplit.side(of: $0).map(sides.contains) ?? false }
                guard !trials.isEmpty else { throw InputError(file: splitURL.path, field: "--side", "no trials of \(side) participants in \(data)") }
                let features = try trials.map { try rep.features(of: $0) }
                let result = try TokenizerEvaluation.run(features: features, participants: trials.map(\.participantID),
                                                         tokenizer: tok, representation: rep)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                    print(String(decoding: try encoder.encode(result), as: UTF8.self))
                } else {
                    print(result.text, terminator: "")
                }
                if let svg {
                    let index: Int
                    if let id = trial {
                        guard let i = trials.firstIndex(where: { $0.id == id }) else {
                            throw InputError(field: "--trial", "no evaluated trial '\(id)' (choose one of the \(side) trials)",
                                             allowed: Array(trials.prefix(8).map(\.id)))
                        }
                        index = i
                    } else { index = 0 }
                    let (pair, _, _) = try TokenizerEvaluation.reconstruct(features[index], tokenizer: tok, representation: rep)
                    let title = "\(trials[index].id) (participant \(trials[index].participantID)): original vs. reconstruction"
                    try AtomicFile.write(TokenizerEvaluation.svg(pair, title: title), to: URL(fileURLWithPath: svg))
                    if !json { print("wrote \(svg)") }
                }
            }
        }
    }
}
