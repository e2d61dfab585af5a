import BiomechCore
import Foundation

/// One answer of one model to one task on one trial: a line of a predictions file.
///
/// Every model writes this format (the language model's evaluation and the baselines), so
/// scoring and reports read one format:
/// `{"task", "trial_id", "participant_id", "split", "model", "repeat", "target",
///   "prediction" (class, number or null when the answer could not be parsed), "raw_answer"}`.
public struct PredictionRecord: Sendable, Codable, Equatable {
    public var task: String
    public var trialID: String
    public var participantID: String
    public var split: SplitSide
    public var model: String
    /// Which repetition of the training (seed) produced this answer; 0 when there is one.
    public var repetition: Int
    public var target: LabelValue
    public var prediction: LabelValue?
    /// The generated text (null for models that predict directly).
    public var rawAnswer: String?

    public init(task: String, trialID: String, participantID: String, split: SplitSide, model: String,
                repetition: Int = 0, target: LabelValue, prediction: LabelValue?, rawAnswer: String? = nil) {
        self.task = task; self.trialID = trialID; self.participantID = participantID; self.split = split
        self.model = model; self.repetition = repetition; self.target = target; self.prediction = prediction
        self.rawAnswer = rawAnswer
    }

    enum CodingKeys: String, CodingKey {
        case task, trialID = "trial_id", participantID = "participant_id", split, model, repetition = "repeat"
        case target, prediction, rawAnswer = "raw_answer"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decode(String.self, forKey: .task)
        trialID = try c.decode(String.self, forKey: .trialID)
        participantID = try c.decode(String.self, forKey: .participantID)
        split = try c.decodeIfPresent(SplitSide.self, forKey: .split) ?? .test
        model = try c.decode(String.self, forKey: .model)
        repetition = try c.decodeIfPresent(Int.self, forKey: .repetition) ?? 0
        target = try c.decode(LabelValue.self, forKey: .target)
        prediction = try c.decodeIfPresent(LabelValue.self, forKey: .prediction)
        rawAnswer = try c.decodeIfPresent(String.self, forKey: .rawAnswer)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(task, forKey: .task); try c.encode(trialID, forKey: .trialID)
        try c.encode(participantID, forKey: .participantID); try c.encode(split, forKey: .split)
        try c.encode(model, forKey: .model); try c.encode(repetition, forKey: .repetition)
        try c.encode(target, forKey: .target)
        try c.encode(prediction, forKey: .prediction)  // explicit null when unparseable
        try c.encode(rawAnswer, forKey: .rawAnswer)
    }
}

public enum PredictionsFile {
    public static func write(_ records: [PredictionRecord], to url: URL) throws { try JSONLines.write(records, to: url) }
    public static func read(from url: URL) throws -> [PredictionRecord] { try JSONLines.read(PredictionRecord.self, from: url) }

    /// Every predictions file of a run folder: `predictions.jsonl` and `predictions/*.jsonl`.
    public static func readRun(_ directory: URL) throws -> [PredictionRecord] {
        var files: [URL] = []
        let single = directory.appendingPathComponent("predictions.jsonl")
        if FileManager.default.fileExists(atPath: single.path) { files.append(single) }
        let folder = directory.appendingPathComponent("predictions", isDirectory: true)
        if let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) {
            files += names.filter { $0.hasSuffix(".jsonl") }.sorted().map { folder.appendingPathComponent($0) }
        }
        guard !files.isEmpty else {
            throw InputError(file: directory.path, "no predictions found (expected predictions.jsonl or predictions/*.jsonl in the run folder)")
        }
        return try files.flatMap { try read(from: $0) }
    }
}

/// What scoring needs to know of a task; from its spec, or inferred from the predictions.
public struct TaskInfo: Sendable, Codable, Equatable {
    public var id: String
    public var kind: TaskKind
    public var classes: [String]
    public var metric: TaskMetric
    public var unit: String?

    public init(id: String, kind: TaskKind, classes: [String] = [], metric: TaskMetric? = nil, unit: String? = nil) {
        self.id = id; self.kind = kind; self.classes = classes
        self.metric = metric ?? (kind == .classification ? .macroF1 : .pearsonR); self.unit = unit
    }

    public init(_ spec: TaskSpec) {
        self.init(id: spec.id, kind: spec.taskKind, classes: spec.classNames, metric: spec.metric, unit: spec.unit)
    }
}

/// The scores of one model, one repetition, one task.
public struct TaskScore: Sendable, Codable, Equatable {
    public var task: String
    public var model: String
    public var repetition: Int
    public var kind: TaskKind
    public var metric: TaskMetric
    public var classification: ClassificationMetrics?
    public var regression: RegressionMetrics?
    /// Truth and prediction pairs (regression), for scatter plots.
    public var points: [[Double]]?

    enum CodingKeys: String, CodingKey {
        case task, model, repetition = "repeat", kind, metric, classification, regression, points
    }

    public var count: Int { classification?.count ?? regression?.count ?? 0 }
    public var unparseable: Int { classification?.unparseable ?? regression?.unparseable ?? 0 }

    public func value(_ metric: TaskMetric) -> Double {
        switch metric {
        case .macroF1: return classification?.macroF1 ?? .nan
        case .weightedF1: return classification?.weightedF1 ?? .nan
        case .accuracy: return classification?.accuracy ?? .nan
        case .pearsonR: return regression?.pearsonR ?? .nan
        case .mae: return regression?.mae ?? .nan
        }
    }
    /// The task's headline metric.
    public var headline: Double { value(metric) }
}

public enum Scoring {
    /// Scores predictions per (model, repetition, task), on one side of the split (test by
    /// default). Tasks absent from `tasks` are inferred: numeric targets are regression,
    /// classes are the sorted distinct targets. A record whose target type does not fit the
    /// task's kind is an error naming the task and trial.
    public static func score(_ predictions: [PredictionRecord], tasks: [TaskInfo] = [], split: SplitSide? = .test) throws -> [TaskScore] {
        let selected = split.map { side in predictions.filter { $0.split == side } } ?? predictions
        struct Key: Hashable { var model: String; var repetition: Int; var task: String }
        var groups: [Key: [PredictionRecord]] = [:]
        var order: [Key] = []
        for record in selected {
            let key = Key(model: record.model, repetition: record.repetition, task: record.task)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(record)
        }
        let known = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var inferred: [String: TaskInfo] = [:]
        var scores: [TaskScore] = []
        for key in order {
            let records = groups[key]!
            let info: TaskInfo
            if let k = known[key.task] { info = k } else if let k = inferred[key.task] { info = k } else {
                let all = selected.filter { $0.task == key.task }
                let numeric = all.allSatisfy { $0.target.number != nil }
                let classes = Array(Set(all.compactMap { $0.target.category } + all.compactMap { $0.prediction?.category })).sorted()
                info = TaskInfo(id: key.task, kind: numeric ? .regression : .classification, classes: numeric ? [] : classes)
                inferred[key.task] = info
            }
            var score = TaskScore(task: key.task, model: key.model, repetition: key.repetition, kind: info.kind, metric: info.metric)
            switch info.kind {
            case .classification:
                var truth: [String] = [], predicted: [String?] = []
                for r in records {
                    guard let t = r.target.category else {
                        throw InputError(field: "\(r.task)/\(r.trialID)", "target \(r.target) is a number, but '\(r.task)' is a classification task")
                    }
                    truth.append(t)
                    predicted.append(r.prediction.map { $0.category ?? SpecCategory.text($0) })
                }
                score.classification = ClassificationMetrics(truth: truth, predicted: predicted, classes: info.classes)
            case .regression:
                var truth: [Double] = [], predicted: [Double?] = []
                for r in records {
                    guard let t = r.target.number else {
                        throw InputError(field: "\(r.task)/\(r.trialID)", "target '\(r.target)' is not a number, but '\(r.task)' is a regression task")
                    }
                    truth.append(t)
                    predicted.append(r.prediction?.number)
                }
                score.regression = RegressionMetrics(truth: truth, predicted: predicted)
                score.points = zip(truth, predicted).compactMap { t, p in p.map { [t, $0] } }
            }
            scores.append(score)
        }
        return scores
    }
}

enum SpecCategory {
    static func text(_ v: LabelValue) -> String { TaskSpec.text(of: v) }
}
