import BiomechCore
import ChanceBaseline
import ClassificationTask
import ClinicalTasks
import Foundation
import RegressionTask
import Testing
import TokenHistogramBoosting

struct XGBoostFixture: Decodable {
    struct Problem: Decodable { var tokens: [[Int]]; var labels: [Double]; var predictions: [Double] }
    var xgboost_version: String
    var codebook_size: Int
    var rounds: Int
    var classification: Problem
    var regression: Problem
}

func fixture(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        throw InputError(file: name, "fixture missing")
    }
    return try Data(contentsOf: url)
}

let classTask = try! ClassificationTask(spec: TaskSpec(
    id: "band", kind: .classification, label: "band",
    classes: ["a", "b", "c"].map { TaskClass(name: $0, display: $0, synonyms: [$0]) },
    prompts: ["<motion>"], answer: "{class}"))
let valueTask = try! RegressionTask(spec: TaskSpec(id: "value", kind: .regression, label: "value", prompts: ["<motion>"], answer: "{value}"))

/// Trials whose token histogram determines the label: class c draws tokens from its own band
/// of a 24-token codebook half of the time. 24 participants × 4 trials; 18 participants train.
func syntheticTrials(seed: UInt64) -> [QATrial] {
    var random = SeededRandom(seed: seed)
    var trials: [QATrial] = []
    for p in 0..<24 {
        for t in 0..<4 {
            let c = random.nextInt(below: 3)
            let tokens = (0..<50).map { _ in random.nextDouble() < 0.5 ? c * 8 + random.nextInt(below: 8) : random.nextInt(below: 24) }
            let inBand = Double(tokens.filter { $0 / 8 == c }.count) / 50
            trials.append(QATrial(trialID: "p\(p)t\(t)", participantID: "p\(p)", split: p < 18 ? .train : .test,
                                  labels: ["band": .category(["a", "b", "c"][c]), "value": .number(Double(c) + inBand)],
                                  encoding: .tokens(tokens)))
        }
    }
    return trials
}

@Suite(.serialized) struct BoostingTests {
    @Test func matchesPythonXGBoostWithFixedHyperParameters() throws {
        let reference = try JSONDecoder().decode(XGBoostFixture.self, from: fixture("xgboost.json"))
        let width = reference.codebook_size
        let hyper = BoostingHyperParameters(maxDepth: 3, learningRate: 0.3, rounds: reference.rounds, subsample: 0.8,
                                            colsampleByTree: 0.75, minChildWeight: 1, lambda: 1)
        let common: [(String, String)] = [("tree_method", "exact"), ("seed", "42"), ("nthread", "1"), ("verbosity", "0")]
        for (problem, objective) in [(reference.classification, [("objective", "multi:softprob"), ("num_class", "3")]),
                                     (reference.regression, [("objective", "reg:squarederror")])] {
            let features = try TokenHistogram.features(problem.tokens.map { .tokens($0) }, codebookSize: width)
            let booster = try XGBBooster(values: features, rows: problem.tokens.count, columns: width,
                                         labels: problem.labels.map { Float($0) },
                                         parameters: common + objective + hyper.xgboostParameters, rounds: reference.rounds)
            let predictions = try booster.predict(values: features, rows: problem.tokens.count, columns: width)
            #expect(predictions.count == problem.predictions.count)
            // Same library version (1.7.4) and exact, single-threaded, seeded training: the
            // predictions agree exactly here (difference 0.0); the tolerance only allows for a
            // libxgboost built by another compiler summing float32 in another order.
            let worst = zip(predictions, problem.predictions).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 1e-5, "largest difference from Python xgboost \(worst)")
        }
    }

    @Test func beatsChanceWhenTheHistogramDeterminesTheLabel() throws {
        let trials = syntheticTrials(seed: 1)
        var configuration = TokenHistogramBoosting.Configuration()
        configuration.candidates = 4
        let boosted = try BaselineEvaluation.run(model: "token-histogram-boosting", tasks: [classTask, valueTask], trials: trials, seed: 9) {
            TokenHistogramBoosting(configuration: configuration)
        }
        let chance = try BaselineEvaluation.run(model: "chance", tasks: [classTask, valueTask], trials: trials, seed: 9) {
            ChanceBaseline(configuration: configuration)
        }
        // Every trial is predicted (training data too, as the paper reports both);
        // 6 of the participants are in the test split: 6 × 4 trials × 2 tasks.
        #expect(boosted.count == 2 * trials.count)
        #expect(boosted.filter { $0.split == .test }.count == 2 * 24)
        #expect(boosted.allSatisfy { $0.prediction != nil })
        let scores = try Scoring.score(boosted + chance, tasks: [TaskInfo(id: "band", kind: .classification, classes: ["a", "b", "c"]),
                                                                 TaskInfo(id: "value", kind: .regression)])
        func headline(_ model: String, _ task: String) -> Double { scores.first { $0.model == model && $0.task == task }!.headline }
        #expect(headline("token-histogram-boosting", "band") > 0.8)
        #expect(headline("chance", "band") < 0.6)
        #expect(headline("token-histogram-boosting", "band") - headline("chance", "band") > 0.3)
        #expect(headline("token-histogram-boosting", "value") > 0.8)
        #expect(headline("token-histogram-boosting", "value") > headline("chance", "value") + 0.3)
    }

    @Test func seededRunsRepeatExactly() throws {
        let trials = syntheticTrials(seed: 2)
        var configuration = TokenHistogramBoosting.Configuration()
        configuration.candidates = 3
        func run(_ seed: UInt64) throws -> [PredictionRecord] {
            try BaselineEvaluation.run(model: "chance", tasks: [classTask], trials: trials, seed: seed) { ChanceBaseline(configuration: configuration) }
        }
        #expect(try run(3) == run(3))
    }

    @Test func searchUsesGroupedFoldsAndSavesTheModel() throws {
        let trials = syntheticTrials(seed: 4).filter { $0.split == .train }
        var configuration = TokenHistogramBoosting.Configuration()
        configuration.candidates = 5
        let model = TokenHistogramBoosting(configuration: configuration)
        var random = SeededRandom(seed: 1)
        try model.fit(encodings: trials.map(\.encoding), targets: trials.map { classTask.target(from: $0.labels)! },
                      participants: trials.map(\.participantID), task: classTask, random: &random, progress: .silent())
        #expect(model.searchLog.count == 5)
        #expect(model.searchLog[0].0 == BoostingHyperParameters())
        #expect(model.chosen != nil)
        let before = try model.predictRaw(encodings: trials.map(\.encoding))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("boost-\(UUID().uuidString)")
        try model.save(to: folder)
        let loaded = TokenHistogramBoosting(configuration: configuration)
        try loaded.load(from: folder)
        #expect(try loaded.predictRaw(encodings: trials.map(\.encoding)) == before)
        #expect(try loaded.predict(encodings: trials.map(\.encoding)) == model.predict(encodings: trials.map(\.encoding)))
    }

    @Test func groupedFoldsKeepParticipantsTogether() {
        var random = SeededRandom(seed: 3)
        let participants = (0..<40).map { "p\($0 % 13)" }
        let folds = GroupedFolds.assign(participants: participants, folds: 3, random: &random)
        var foldOf: [String: Int] = [:]
        for (p, f) in zip(participants, folds) {
            #expect(foldOf[p] == nil || foldOf[p] == f)
            foldOf[p] = f
        }
        let sizes = (0..<3).map { f in folds.filter { $0 == f }.count }
        #expect(sizes.max()! - sizes.min()! <= 4)
    }

    @Test func continuousEncodingsArePooledToMeanAndStandardDeviation() throws {
        // Known values: steps (1, 10), (3, 10), (5, 40) → means (3, 20), standard deviations (√(8/3), √200).
        let e = MotionEncoding.vectors(count: 3, width: 2, values: [1, 10, 3, 10, 5, 40])
        let summary = EncodingSummary.fitted(to: [e], codebookSize: 99)
        #expect(summary == .vectorMoments(width: 2) && summary.columns == 4)
        let f = try summary.features([e])
        let expected: [Float] = [3, 20, Float((8.0 / 3).squareRoot()), Float(200.0.squareRoot())]
        for (a, b) in zip(f, expected) { #expect(abs(a - b) < 1e-5) }
        // A summary fitted on one kind refuses the other.
        #expect(throws: InputError.self) { try summary.features([.tokens([1, 2])]) }
        #expect(throws: InputError.self) { try EncodingSummary.histogram(codebookSize: 4).features([e]) }
        #expect(EncodingSummary.fitted(to: [.tokens([0, 5]), .tokens([2])], codebookSize: 0) == .histogram(codebookSize: 6))
    }

    @Test func errorsAreReportedNotTrapped() throws {
        let model = TokenHistogramBoosting()
        #expect(throws: InputError.self) { try model.predict(encodings: [.tokens([1])]) }
        var random = SeededRandom(seed: 1)
        // Tokens and vectors mixed in one fit.
        #expect(throws: InputError.self) {
            try model.fit(encodings: [.vectors(count: 1, width: 2, values: [0, 0]), .tokens([1])], targets: [.category("a"), .category("a")],
                          participants: ["p", "q"], task: classTask, random: &random, progress: .silent())
        }
        #expect(throws: InputError.self) {
            try model.fit(encodings: [.tokens([1])], targets: [.category("zzz")], participants: ["p"],
                          task: classTask, random: &random, progress: .silent())
        }
        // XGBoost's own errors become XGBoostError with its message.
        #expect(throws: XGBoostError.self) {
            _ = try XGBBooster(values: [0, 1], rows: 2, columns: 1, labels: [0, 1], parameters: [("objective", "no:such")], rounds: 1)
        }
    }

    @Test func registryBuildsBothBaselines() throws {
        var registry = PluginRegistry()
        registry.register(TokenHistogramBoosting.descriptor) { try TokenHistogramBoosting.make($0) }
        registry.register(ChanceBaseline.descriptor) { try ChanceBaseline.make($0) }
        let boost: any BaselinePredictor = try registry.make(.baseline, id: "token-histogram-boosting",
                                                             parameters: PluginParameters(["candidates": "7", "threads": "2"]))
        #expect((boost as? TokenHistogramBoosting)?.configuration.candidates == 7)
        let chance: any BaselinePredictor = try registry.make(.baseline, id: "chance", parameters: .empty)
        #expect((chance as? ChanceBaseline)?.inner.configuration.shuffleLabels == true)
        #expect(throws: InputError.self) {
            let _: any BaselinePredictor = try registry.make(.baseline, id: "chance", parameters: PluginParameters(["rounds": "3"]))
        }
        #expect(throws: InputError.self) {
            let _: any BaselinePredictor = try registry.make(.baseline, id: "chance", parameters: PluginParameters(["regression_score": "r2"]))
        }
    }
}
