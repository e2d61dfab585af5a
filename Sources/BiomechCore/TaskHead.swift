/// Classification (F1) or regression (Pearson r).
public enum TaskKind: String, Sendable, Codable, CaseIterable { case classification, regression }

/// A clinical question asked of a trial.
///
/// Contract:
/// - `applies(to:)` says whether the task is asked of a trial with these labels (no
///   diagnosis question for an unimpaired person); `target(from:)` is the truth, or nil
///   when the label is missing.
/// - `prompt(using:)` samples one of the task's question templates with the run's
///   generator; `answer(for:)` writes the reference answer; `parse(answer:)` reads a
///   generated answer back (nil when it cannot be parsed: callers count those).
/// - Nothing is fitted; a task is configured entirely from its YAML file.
public protocol TaskHead: Sendable {
    var id: String { get }
    var kind: TaskKind { get }
    /// Class names in a fixed order (classification), empty for regression.
    var classNames: [String] { get }
    func applies(to labels: [String: LabelValue]) -> Bool
    func target(from labels: [String: LabelValue]) -> LabelValue?
    func prompt(using random: inout SeededRandom) -> String
    func answer(for target: LabelValue) -> String
    func parse(answer: String) -> LabelValue?
}

/// A predictor that answers a task without a language model: the token-histogram
/// boosting and chance baselines.
///
/// Contract: `fit` sees the **training split only** (encodings, targets and participant
/// ids for grouped cross-validation); `predict` returns one prediction per encoding.
/// `save(to:)`/`load(from:)` persist the fitted model.
public protocol BaselinePredictor: AnyObject {
    func fit(encodings: [MotionEncoding], targets: [LabelValue], participants: [String],
             task: any TaskHead, random: inout SeededRandom, progress: ProgressLog) throws
    func predict(encodings: [MotionEncoding]) throws -> [LabelValue]
}
