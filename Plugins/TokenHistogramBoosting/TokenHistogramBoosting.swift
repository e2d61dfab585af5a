import BiomechCore
import ClinicalTasks
import Foundation

/// Hyper-parameters of one boosted-tree model.
public struct BoostingHyperParameters: Sendable, Codable, Equatable {
    public var maxDepth: Int = 6
    public var learningRate: Double = 0.3
    public var rounds: Int = 100
    public var subsample: Double = 1
    public var colsampleByTree: Double = 1
    public var minChildWeight: Double = 1
    public var lambda: Double = 1

    public init(maxDepth: Int = 6, learningRate: Double = 0.3, rounds: Int = 100, subsample: Double = 1,
                colsampleByTree: Double = 1, minChildWeight: Double = 1, lambda: Double = 1) {
        self.maxDepth = maxDepth; self.learningRate = learningRate; self.rounds = rounds; self.subsample = subsample
        self.colsampleByTree = colsampleByTree; self.minChildWeight = minChildWeight; self.lambda = lambda
    }

    enum CodingKeys: String, CodingKey {
        case maxDepth = "max_depth", learningRate = "eta", rounds = "n_estimators", subsample
        case colsampleByTree = "colsample_bytree", minChildWeight = "min_child_weight", lambda
    }

    /// One draw from the randomised-search space:
    /// max_depth ∈ {2,3,4,5,6,8}, eta log-uniform in [0.01, 0.3], rounds ∈ {50,100,200,300},
    /// subsample U[0.6, 1], colsample_bytree U[0.5, 1], min_child_weight ∈ {1,2,5,10},
    /// lambda log-uniform in [0.1, 10].
    public static func sample(_ random: inout SeededRandom) -> BoostingHyperParameters {
        func logUniform(_ lo: Double, _ hi: Double) -> Double { exp(log(lo) + random.nextDouble() * (log(hi) - log(lo))) }
        let depths = [2, 3, 4, 5, 6, 8], rounds = [50, 100, 200, 300], weights = [1.0, 2, 5, 10]
        let depth = depths[random.nextInt(below: depths.count)]
        let eta = logUniform(0.01, 0.3)
        let r = rounds[random.nextInt(below: rounds.count)]
        let subsample = 0.6 + 0.4 * random.nextDouble()
        let colsample = 0.5 + 0.5 * random.nextDouble()
        let weight = weights[random.nextInt(below: weights.count)]
        let lambda = logUniform(0.1, 10)
        return BoostingHyperParameters(maxDepth: depth, learningRate: eta, rounds: r, subsample: subsample,
                                       colsampleByTree: colsample, minChildWeight: weight, lambda: lambda)
    }

    /// As XGBoost parameters (`rounds` is passed separately).
    public var xgboostParameters: [(String, String)] {
        [("max_depth", String(maxDepth)), ("eta", String(learningRate)), ("subsample", String(subsample)),
         ("colsample_bytree", String(colsampleByTree)), ("min_child_weight", String(minChildWeight)), ("lambda", String(lambda))]
    }
}

/// Each trial's normalised histogram of motion tokens: counts of each token id divided by
/// the number of tokens, one column per codebook entry.
public enum TokenHistogram {
    public static func features(_ encodings: [MotionEncoding], codebookSize: Int) throws -> [Float] {
        var values = [Float](repeating: 0, count: encodings.count * codebookSize)
        for (row, encoding) in encodings.enumerated() {
            guard case .tokens(let tokens) = encoding else {
                throw InputError(field: "token-histogram-boosting", "expected discrete motion tokens, got continuous vectors")
            }
            guard !tokens.isEmpty else { continue }
            let weight = 1 / Float(tokens.count)
            for t in tokens where t >= 0 && t < codebookSize { values[row * codebookSize + t] += weight }
        }
        return values
    }
}

/// What the boosted trees see of a trial's motion encoding. Discrete tokens: their
/// histogram. Continuous encodings have none; for them the features are the per-dimension
/// mean and standard deviation over the trial's steps (`2 × width` columns: means, then
/// standard deviations), the order-free summary that plays the histogram's part, so a recipe
/// that swaps the tokenizer keeps its boosting baseline. Chosen when fitting, saved with the model.
public enum EncodingSummary: Codable, Equatable, Sendable {
    case histogram(codebookSize: Int)
    case vectorMoments(width: Int)

    public var columns: Int {
        switch self {
        case .histogram(let k): return k
        case .vectorMoments(let w): return 2 * w
        }
    }

    /// The summary for training encodings (their kind); `codebookSize` 0 takes the largest
    /// training token id + 1.
    public static func fitted(to encodings: [MotionEncoding], codebookSize: Int) -> EncodingSummary {
        if case .vectors(_, let w, _)? = encodings.first { return .vectorMoments(width: w) }
        let maxToken = encodings.reduce(-1) { m, e in if case .tokens(let t) = e { return max(m, t.max() ?? -1) } else { return m } }
        return .histogram(codebookSize: codebookSize > 0 ? codebookSize : max(1, maxToken + 1))
    }

    public func features(_ encodings: [MotionEncoding]) throws -> [Float] {
        guard case .vectorMoments(let w) = self else {
            guard case .histogram(let k) = self else { return [] }
            return try TokenHistogram.features(encodings, codebookSize: k)
        }
        var values = [Float](repeating: 0, count: encodings.count * 2 * w)
        for (row, encoding) in encodings.enumerated() {
            guard case .vectors(let count, let width, let v) = encoding, width == w else {
                throw InputError(field: "token-histogram-boosting", "expected continuous vectors of width \(w) (as fitted)")
            }
            guard count > 0 else { continue }
            for j in 0..<w {
                var sum = 0.0, square = 0.0
                for t in 0..<count { let x = Double(v[t * w + j]); sum += x; square += x * x }
                let mean = sum / Double(count)
                values[row * 2 * w + j] = Float(mean)
                values[row * 2 * w + w + j] = Float(max(0, square / Double(count) - mean * mean).squareRoot())
            }
        }
        return values
    }
}

/// Folds of participants: every participant's trials fall in one fold (grouped k-fold).
/// Participants are shuffled with the generator and dealt to the fold with the fewest trials.
public enum GroupedFolds {
    public static func assign(participants: [String], folds k: Int, random: inout SeededRandom) -> [Int] {
        var counts: [String: Int] = [:]
        for p in participants { counts[p, default: 0] += 1 }
        var groups = counts.keys.sorted()
        groups.shuffle(using: &random)
        // Largest groups first (stable after the shuffle), each to the lightest fold.
        groups = groups.enumerated().sorted { a, b in
            counts[a.element]! != counts[b.element]! ? counts[a.element]! > counts[b.element]! : a.offset < b.offset
        }.map(\.element)
        var load = [Int](repeating: 0, count: k)
        var foldOf: [String: Int] = [:]
        for g in groups {
            let f = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 }!
            foldOf[g] = f
            load[f] += counts[g]!
        }
        return participants.map { foldOf[$0]! }
    }
}

/// The token-histogram XGBoost baseline: each trial's normalised histogram of motion tokens
/// → gradient-boosted trees (XGBoost's C API). Hyper-parameters come from a randomised search
/// scored by 3-fold cross-validation grouped by participant inside the training split (macro
/// F1 for classification; Pearson r or negative MSE for regression), then the best candidate
/// is refitted on all training trials. Classification uses `multi:softprob` over the task's
/// classes; regression `reg:squarederror`.
public final class TokenHistogramBoosting: BaselinePredictor {
    public struct Configuration: Sendable, Equatable {
        public var candidates = 20
        public var folds = 3
        public var threads = 1
        /// Histogram width; 0 takes the largest token id seen in training + 1.
        public var codebookSize = 0
        public var regressionScore = "pearson_r"
        public var treeMethod = "hist"
        /// Skip the search and use these hyper-parameters.
        public var fixed: BoostingHyperParameters?
        /// Train on labels shuffled within the training split (the chance baseline).
        public var shuffleLabels = false
        public init() {}
    }

    public static let descriptor = PluginDescriptor(
        id: "token-histogram-boosting", kind: .baseline,
        summary: "XGBoost on each trial's normalised motion-token histogram; randomised search with participant-grouped CV",
        parameters: [
            ParameterSpec("candidates", "int", default: "20", "hyper-parameter candidates in the randomised search"),
            ParameterSpec("folds", "int", default: "3", "cross-validation folds, grouped by participant, inside the training split"),
            ParameterSpec("threads", "int", default: "1", "XGBoost nthread"),
            ParameterSpec("codebook_size", "int", default: "0", "histogram width (0: largest training token id + 1)"),
            ParameterSpec("regression_score", "pearson_r|neg_mse", default: "pearson_r", "search score for regression tasks"),
            ParameterSpec("tree_method", "hist|exact|approx", default: "hist", "XGBoost tree_method"),
        ])

    public static func configuration(from parameters: PluginParameters) throws -> Configuration {
        var c = Configuration()
        c.candidates = try parameters.positiveInt("candidates", default: 20)
        c.folds = try parameters.positiveInt("folds", default: 3)
        c.threads = try parameters.positiveInt("threads", default: 1)
        c.codebookSize = try parameters.int("codebook_size", default: 0)
        guard c.codebookSize >= 0 else { throw parameters.error("codebook_size", "expected 0 or a positive integer, got \(c.codebookSize)") }
        c.regressionScore = try parameters.choice("regression_score", from: ["pearson_r", "neg_mse"], default: "pearson_r")
        c.treeMethod = try parameters.choice("tree_method", from: ["hist", "exact", "approx"], default: "hist")
        return c
    }

    public static func make(_ parameters: PluginParameters) throws -> TokenHistogramBoosting {
        TokenHistogramBoosting(configuration: try configuration(from: parameters))
    }

    public let configuration: Configuration
    public private(set) var booster: XGBBooster?
    public private(set) var chosen: BoostingHyperParameters?
    /// Each candidate with its mean cross-validation score.
    public private(set) var searchLog: [(BoostingHyperParameters, Double)] = []
    private var kind: TaskKind = .classification
    private var classes: [String] = []
    private var width = 0
    private var summary = EncodingSummary.histogram(codebookSize: 0)

    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    func baseParameters(seed: UInt64) -> [(String, String)] {
        var p: [(String, String)] = [("nthread", String(configuration.threads)), ("verbosity", "0"),
                                     ("tree_method", configuration.treeMethod), ("seed", String(seed % 2_147_483_647))]
        switch kind {
        case .classification: p += [("objective", "multi:softprob"), ("num_class", String(classes.count))]
        case .regression: p += [("objective", "reg:squarederror")]
        }
        return p
    }

    func train(_ features: [Float], rows: Int, labels: [Float], hyper: BoostingHyperParameters, seed: UInt64) throws -> XGBBooster {
        try XGBBooster(values: features, rows: rows, columns: width, labels: labels,
                       parameters: baseParameters(seed: seed) + hyper.xgboostParameters, rounds: hyper.rounds)
    }

    func decode(_ raw: [Float], rows: Int) -> [LabelValue] {
        switch kind {
        case .regression: return raw.map { .number(Double($0)) }
        case .classification:
            let k = classes.count
            return (0..<rows).map { r in
                var best = 0
                for c in 1..<k where raw[r * k + c] > raw[r * k + best] { best = c }
                return .category(classes[best])
            }
        }
    }

    func score(truth: [Float], predicted: [LabelValue]) -> Double {
        switch kind {
        case .classification:
            return ClassificationMetrics(truth: truth.map { classes[Int($0)] }, predicted: predicted.map { $0.category }, classes: classes).macroF1
        case .regression:
            let t = truth.map(Double.init), p = predicted.map { $0.number }
            if configuration.regressionScore == "neg_mse" {
                return -zip(t, p).reduce(0) { $0 + pow($1.0 - ($1.1 ?? 0), 2) } / Double(max(1, t.count))
            }
            let r = RegressionMetrics(truth: t, predicted: p).pearsonR
            return r.isFinite ? r : 0
        }
    }

    public func fit(encodings: [MotionEncoding], targets: [LabelValue], participants: [String],
                    task: any TaskHead, random: inout SeededRandom, progress: ProgressLog) throws {
        guard encodings.count == targets.count, encodings.count == participants.count else {
            throw InputError(field: task.id, "fit needs one target and one participant per encoding")
        }
        guard !encodings.isEmpty else { throw InputError(field: task.id, "no training trials to fit") }
        kind = task.kind
        summary = EncodingSummary.fitted(to: encodings, codebookSize: configuration.codebookSize)
        width = summary.columns
        let features = try summary.features(encodings)
        var labels: [Float]
        switch kind {
        case .classification:
            classes = task.classNames.isEmpty ? Array(Set(targets.compactMap(\.category))).sorted() : task.classNames
            labels = try targets.map { t in
                guard let c = t.category, let i = classes.firstIndex(of: c) else {
                    throw InputError(field: task.id, "target '\(t)' is not one of the task's classes", allowed: classes)
                }
                return Float(i)
            }
        case .regression:
            labels = try targets.map { t in
                guard let x = t.number else { throw InputError(field: task.id, "target '\(t)' is not a number") }
                return Float(x)
            }
        }
        if configuration.shuffleLabels { labels.shuffle(using: &random) }

        let rows = encodings.count
        var best = configuration.fixed ?? BoostingHyperParameters()
        searchLog = []
        let groups = Set(participants).count
        let k = min(configuration.folds, groups)
        if configuration.fixed == nil, k >= 2, configuration.candidates > 1 {
            var foldRandom = random.derived("folds")
            let fold = GroupedFolds.assign(participants: participants, folds: k, random: &foldRandom)
            var candidates = [BoostingHyperParameters()]  // XGBoost's defaults first
            var searchRandom = random.derived("search")
            while candidates.count < configuration.candidates { candidates.append(.sample(&searchRandom)) }
            var bestScore = -Double.infinity
            for (ci, candidate) in candidates.enumerated() {
                var scores: [Double] = []
                for f in 0..<k {
                    let trainRows = (0..<rows).filter { fold[$0] != f }, testRows = (0..<rows).filter { fold[$0] == f }
                    guard !trainRows.isEmpty, !testRows.isEmpty else { continue }
                    let model = try train(gather(features, trainRows), rows: trainRows.count, labels: trainRows.map { labels[$0] },
                                          hyper: candidate, seed: searchRandom.next())
                    let raw = try model.predict(values: gather(features, testRows), rows: testRows.count, columns: width)
                    scores.append(score(truth: testRows.map { labels[$0] }, predicted: decode(raw, rows: testRows.count)))
                }
                let mean = scores.isEmpty ? -Double.infinity : scores.reduce(0, +) / Double(scores.count)
                searchLog.append((candidate, mean))
                if mean > bestScore { bestScore = mean; best = candidate }
                progress.step(ci + 1, of: candidates.count, [("cv_score", mean), ("best", bestScore)])
            }
        }
        chosen = best
        booster = try train(features, rows: rows, labels: labels, hyper: best, seed: random.next())
    }

    func gather(_ features: [Float], _ rows: [Int]) -> [Float] {
        var out = [Float](); out.reserveCapacity(rows.count * width)
        for r in rows { out += features[(r * width)..<((r + 1) * width)] }
        return out
    }

    public func predict(encodings: [MotionEncoding]) throws -> [LabelValue] {
        guard let booster else { throw InputError(field: "token-histogram-boosting", "predict called before fit") }
        guard !encodings.isEmpty else { return [] }
        let features = try summary.features(encodings)
        return decode(try booster.predict(values: features, rows: encodings.count, columns: width), rows: encodings.count)
    }

    /// Raw model outputs (class probabilities, row-major, or regression values).
    public func predictRaw(encodings: [MotionEncoding]) throws -> [Float] {
        guard let booster else { throw InputError(field: "token-histogram-boosting", "predict called before fit") }
        return try booster.predict(values: summary.features(encodings), rows: encodings.count, columns: width)
    }

    /// Saves the fitted booster (XGBoost JSON) and a small JSON of what decoding needs.
    public func save(to directory: URL) throws {
        guard let booster else { throw InputError(field: "token-histogram-boosting", "nothing to save before fit") }
        try booster.save(to: directory.appendingPathComponent("model.json"))
        try AtomicFile.writeJSON(SavedState(kind: kind, classes: classes, width: width, hyperParameters: chosen, summary: summary),
                                 to: directory.appendingPathComponent("baseline.json"))
    }

    public func load(from directory: URL) throws {
        let stateURL = directory.appendingPathComponent("baseline.json")
        let state: SavedState
        do { state = try JSONDecoder().decode(SavedState.self, from: Data(contentsOf: stateURL)) } catch {
            throw InputError(file: stateURL.path, "could not read the saved baseline: \(error.localizedDescription)")
        }
        kind = state.kind; classes = state.classes; width = state.width; chosen = state.hyperParameters
        summary = state.summary ?? .histogram(codebookSize: state.width)
        booster = try XGBBooster(contentsOf: directory.appendingPathComponent("model.json"),
                                 parameters: [("nthread", String(configuration.threads))])
    }

    struct SavedState: Codable {
        var kind: TaskKind; var classes: [String]; var width: Int; var hyperParameters: BoostingHyperParameters?
        /// Absent in files written before continuous encodings: a token histogram of `width`.
        var summary: EncodingSummary?
    }
}
