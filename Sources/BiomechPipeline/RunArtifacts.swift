import BiomechCore
import BiomechRecipes
import ClinicalTasks
import Foundation
import MotionData
import NumericsEngine

/// Reading and writing the files stages hand to each other. Stages never pass objects in
/// memory, so any stage can run on its own after the ones before it (resume, `--only`).
public enum RunArtifacts {
    public static func datasetFile(_ d: RunDirectory) -> URL { d.dataDirectory.appendingPathComponent("dataset.h5") }
    public static func representationDirectory(_ d: RunDirectory) -> URL { d.artifacts("tokenizer").appendingPathComponent("representation") }
    public static func tokenizerDirectory(_ d: RunDirectory) -> URL { d.artifacts("tokenizer").appendingPathComponent("model") }
    public static func tokenizerCheckpoints(_ d: RunDirectory) -> URL { d.artifacts("tokenizer").appendingPathComponent("checkpoints") }
    public static func encodingsFile(_ d: RunDirectory) -> URL { d.artifacts("encode").appendingPathComponent("encodings.jsonl") }
    /// Continuous encodings' values, one `[steps, width]` tensor per trial id.
    public static func vectorsFile(_ d: RunDirectory) -> URL { d.artifacts("encode").appendingPathComponent("vectors.safetensors") }
    public static func qaDirectory(_ d: RunDirectory) -> URL { d.artifacts("qa") }
    public static func predictionsDirectory(_ d: RunDirectory) -> URL { d.url.appendingPathComponent("predictions") }
    public static func fineTuneDirectory(_ d: RunDirectory, repetition: Int) -> URL {
        d.artifacts("finetune").appendingPathComponent("r\(repetition)")
    }

    /// The QA set the `qa` stage wrote.
    public static func qaRecords(_ d: RunDirectory) throws -> [QARecord] {
        let file = qaDirectory(d).appendingPathComponent(QASet.fileName)
        try require(file, madeBy: .qa)
        return try QASet.read(from: file)
    }

    static func require(_ url: URL, madeBy stage: Stage) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw InputError(file: url.path, "missing; it is made by the '\(stage.rawValue)' stage — run that stage first")
        }
    }

    public static func dataset(_ d: RunDirectory) throws -> MotionDataset {
        try require(datasetFile(d), madeBy: .data)
        return try HDF5Store.read(datasetFile(d))
    }

    public static func split(_ d: RunDirectory) throws -> ParticipantSplit {
        try require(d.splitFile, madeBy: .data)
        return try ParticipantSplit.load(from: d.splitFile)
    }

    /// The representation and tokenizer as the tokenizer stage saved them.
    public static func fittedModels(_ context: RunContext) throws -> (any MotionRepresentation, any Tokenizer) {
        let d = context.directory
        guard let tokenizerSpec = context.recipe.tokenizer else {
            throw InputError(file: d.recipeFile.path, field: "tokenizer", "the recipe names no tokenizer")
        }
        try require(tokenizerDirectory(d), madeBy: .tokenizer)
        let representation: any MotionRepresentation = try context.registry.make(.representation, context.recipe.representation)
        try representation.load(from: representationDirectory(d))
        let tokenizer: any Tokenizer = try context.registry.make(.tokenizer, tokenizerSpec)
        try tokenizer.load(from: tokenizerDirectory(d))
        return (representation, tokenizer)
    }

    /// The tasks the recipe names, from recipes/tasks and its task directories.
    public static func tasks(_ context: RunContext) throws -> (specs: [TaskSpec], heads: [any TaskHead]) {
        var folders = [TaskCatalog.shippedFolder()]
        folders += context.recipe.taskDirectories.map { URL(fileURLWithPath: $0) }
        let catalog = try TaskCatalog.load(folders: folders)
        let specs = try catalog.select(context.recipe.tasks, file: context.directory.recipeFile.path)
        return (specs, try TaskCatalog.heads(for: specs, registry: context.registry))
    }

    /// Trial id → (split side, encoding), as the encode stage wrote them (no data set read).
    public static func encodedEncodings(_ d: RunDirectory) throws -> [String: (split: SplitSide, encoding: MotionEncoding)] {
        try require(encodingsFile(d), madeBy: .encode)
        let file = encodingsFile(d).path
        let records = try JSONLines.read(EncodingRecord.self, from: encodingsFile(d))
        var vectors: SafetensorsFile?
        if records.contains(where: { $0.tokens == nil && $0.vectors == nil }) {
            try require(vectorsFile(d), madeBy: .encode)
            vectors = try SafetensorsFile(path: vectorsFile(d).path)
        }
        var out: [String: (split: SplitSide, encoding: MotionEncoding)] = [:]
        for var record in records where out[record.trialID] == nil {
            if record.tokens == nil, record.vectors == nil, let vectors {
                let t = try vectors.tensor(record.trialID)
                guard let count = record.vectorCount, let width = record.vectorWidth, t.shape == [count, width] else {
                    throw InputError(file: vectorsFile(d).path, field: record.trialID,
                                     "has \(t.shape); encodings.jsonl says \(record.vectorCount ?? 0) × \(record.vectorWidth ?? 0)")
                }
                record.vectors = t.scalars
            }
            out[record.trialID] = (record.split, try record.encoding(file: file))
        }
        return out
    }

    /// Every trial with its split side and encoding, as the encode stage wrote them.
    public static func encodedTrials(_ d: RunDirectory) throws -> [QATrial] {
        let dataset = try Self.dataset(d)
        let encodings = try encodedEncodings(d)
        return try dataset.trials.map { trial in
            guard let e = encodings[trial.id] else {
                throw InputError(file: encodingsFile(d).path, field: trial.id, "no encoding for this trial; re-run the 'encode' stage")
            }
            return QATrial(trial, split: e.split, encoding: e.encoding)
        }
    }
}

/// One line of `artifacts/encode/encodings.jsonl`.
public struct EncodingRecord: Codable, Sendable {
    public var trialID: String
    public var participantID: String
    public var split: SplitSide
    public var tokens: [Int]?
    public var vectorWidth: Int?
    public var vectorCount: Int?
    /// Inline values (small files); the `encode` stage leaves them out and writes them to
    /// `vectors.safetensors`.
    public var vectors: [Float]?

    enum CodingKeys: String, CodingKey {
        case trialID = "trial_id", participantID = "participant_id", split, tokens, vectorWidth = "vector_width"
        case vectorCount = "vector_count", vectors
    }

    public init(trialID: String, participantID: String, split: SplitSide, encoding: MotionEncoding) {
        self.trialID = trialID; self.participantID = participantID; self.split = split
        switch encoding {
        case .tokens(let t): tokens = t
        case .vectors(let count, let width, let values): vectorWidth = width; vectorCount = count; vectors = values
        }
    }

    /// The encoding this line describes; an inconsistent line is an error naming `file` and the trial.
    public func encoding(file: String) throws -> MotionEncoding {
        if let tokens {
            guard tokens.allSatisfy({ $0 >= 0 }) else { throw InputError(file: file, field: trialID, "negative token id") }
            return .tokens(tokens)
        }
        guard let width = vectorWidth, width > 0, let values = vectors, values.count % width == 0,
              vectorCount.map({ values.count / width == $0 }) ?? true else {
            throw InputError(file: file, field: trialID,
                             "expected tokens, or vector_width > 0 with vector_count × vector_width values")
        }
        return .vectors(count: values.count / width, width: width, values: values)
    }
}
