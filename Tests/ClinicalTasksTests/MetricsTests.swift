import BiomechCore
import ClinicalTasks
import Foundation
import Testing

struct MetricsFixture: Decodable {
    struct Classification: Decodable {
        var truth: [String]; var predicted: [String]; var labels: [String]
        var accuracy: Double; var macro_f1: Double; var weighted_f1: Double; var confusion: [[Int]]
    }
    struct Regression: Decodable {
        var truth: [Double]; var predicted: [Double]
        var pearson_r: Double; var p_value: Double; var slope: Double; var intercept: Double; var mae: Double
    }
    struct Beta: Decodable { var a: Double; var b: Double; var x: Double; var value: Double }
    var classification: [Classification]
    var regression: [Regression]
    var betainc: [Beta]
}

func close(_ a: Double, _ b: Double, relative: Double = 1e-9, absolute: Double = 1e-12) -> Bool {
    abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))
}

@Suite struct MetricsTests {
    let reference: MetricsFixture

    init() throws { reference = try JSONDecoder().decode(MetricsFixture.self, from: fixture("metrics.json")) }

    @Test func classificationMatchesScikitLearn() {
        #expect(reference.classification.count == 6)
        for case_ in reference.classification {
            let m = ClassificationMetrics(truth: case_.truth, predicted: case_.predicted.map { Optional($0) }, classes: case_.labels)
            #expect(m.labels == case_.labels)
            #expect(close(m.accuracy, case_.accuracy))
            #expect(close(m.macroF1, case_.macro_f1), "macro \(m.macroF1) vs \(case_.macro_f1)")
            #expect(close(m.weightedF1, case_.weighted_f1))
            #expect(m.confusion.map { Array($0.dropLast()) } == case_.confusion)
            #expect(m.unparseable == 0)
        }
    }

    @Test func unparseableAnswersCountAsWrong() {
        let m = ClassificationMetrics(truth: ["a", "a", "b", "b"], predicted: ["a", nil, "b", "b"], classes: ["a", "b"])
        #expect(m.unparseable == 1)
        #expect(m.accuracy == 0.75)
        #expect(m.confusion == [[1, 0, 1], [0, 2, 0]])
        // a: P 1, R 0.5 → F1 2/3; b: P 1, R 1 → 1.
        #expect(close(m.macroF1, (2.0 / 3 + 1) / 2))
        let r = RegressionMetrics(truth: [1, 2, 3, 4], predicted: [1.1, nil, 2.9, 4.2])
        #expect(r.unparseable == 1)
        #expect(r.count == 4)
        #expect(r.pearsonR > 0.99)
    }

    @Test func regressionMatchesSciPy() {
        for case_ in reference.regression {
            let m = RegressionMetrics(truth: case_.truth, predicted: case_.predicted.map { Optional($0) })
            #expect(close(m.pearsonR, case_.pearson_r, relative: 1e-10))
            #expect(close(m.pValue, case_.p_value, relative: 1e-7, absolute: 1e-300), "p \(m.pValue) vs \(case_.p_value)")
            #expect(close(m.slope, case_.slope, relative: 1e-10))
            #expect(close(m.intercept, case_.intercept, relative: 1e-9))
            #expect(close(m.mae, case_.mae, relative: 1e-12))
        }
    }

    @Test func incompleteBetaMatchesSciPy() {
        for c in reference.betainc {
            let value = SpecialFunctions.regularizedIncompleteBeta(c.a, c.b, c.x)
            #expect(close(value, c.value, relative: 1e-10, absolute: 1e-300), "I(\(c.a), \(c.b), \(c.x)) = \(value) vs \(c.value)")
        }
        #expect(SpecialFunctions.regularizedIncompleteBeta(2, 3, 0) == 0)
        #expect(SpecialFunctions.regularizedIncompleteBeta(2, 3, 1) == 1)
    }

    @Test func degenerateCasesAreNaNNotTraps() {
        let constant = RegressionMetrics(truth: [1, 2, 3], predicted: [2, 2, 2])
        #expect(constant.pearsonR.isNaN)
        #expect(constant.slope == 0)
        let empty = RegressionMetrics(truth: [1, 2], predicted: [nil, nil])
        #expect(empty.pearsonR.isNaN && empty.mae.isNaN)
        #expect(ClassificationMetrics(truth: [], predicted: [], classes: ["a"]).accuracy.isNaN)
    }

    @Test func meanAndStandardDeviation() {
        let s = MeanStd([0.86, 0.88, 0.90])
        #expect(close(s.mean, 0.88))
        #expect(close(s.std!, 0.02))
        #expect(s.formatted() == "0.88 ± 0.02")
        #expect(MeanStd([0.5]).formatted() == "0.50")
        #expect(MeanStd([]).formatted() == "—")
    }
}
